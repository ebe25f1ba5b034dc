package androidx.work;

import android.content.Context;

/** Stub of androidx.work.Worker: doWork runs on WorkManager's background executor. */
public abstract class Worker extends ListenableWorker {
    public Worker(Context context, WorkerParameters workerParams) {
        super(context, workerParams);
    }

    public abstract ListenableWorker.Result doWork();
}
