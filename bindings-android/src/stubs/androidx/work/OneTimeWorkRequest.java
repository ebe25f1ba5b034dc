package androidx.work;

/** Stub of androidx.work.OneTimeWorkRequest. */
public final class OneTimeWorkRequest extends WorkRequest {
    private OneTimeWorkRequest() {}

    public static final class Builder extends WorkRequest.Builder<Builder, OneTimeWorkRequest> {
        public Builder(Class<? extends ListenableWorker> workerClass) {}
    }
}
