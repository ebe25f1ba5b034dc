package androidx.work;

/** Stub of androidx.work.WorkerParameters (created by WorkManager only). */
public final class WorkerParameters {
    private WorkerParameters() {}
}
