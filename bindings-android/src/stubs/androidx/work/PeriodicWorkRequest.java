package androidx.work;

import java.util.concurrent.TimeUnit;

/** Stub of androidx.work.PeriodicWorkRequest. */
public final class PeriodicWorkRequest extends WorkRequest {
    public static final long MIN_PERIODIC_INTERVAL_MILLIS = 900000L;

    private PeriodicWorkRequest() {}

    public static final class Builder extends WorkRequest.Builder<Builder, PeriodicWorkRequest> {
        public Builder(Class<? extends ListenableWorker> workerClass, long repeatInterval, TimeUnit repeatIntervalTimeUnit) {}
    }
}
