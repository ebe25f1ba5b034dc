package androidx.work;

import android.content.Context;

/** Stub of androidx.work.ListenableWorker (work-runtime 2.9). */
public abstract class ListenableWorker {
    public ListenableWorker(Context appContext, WorkerParameters workerParams) {}

    public final Context getApplicationContext() {
        throw new RuntimeException("Stub!");
    }

    public final Data getInputData() {
        throw new RuntimeException("Stub!");
    }

    public final int getRunAttemptCount() {
        throw new RuntimeException("Stub!");
    }

    public abstract static class Result {
        Result() {}

        public static Result success() {
            throw new RuntimeException("Stub!");
        }

        public static Result retry() {
            throw new RuntimeException("Stub!");
        }

        public static Result failure() {
            throw new RuntimeException("Stub!");
        }
    }
}
