package androidx.work;

import android.content.Context;

/** Stub of androidx.work.WorkManager. */
public abstract class WorkManager {
    WorkManager() {}

    public static WorkManager getInstance(Context context) {
        throw new RuntimeException("Stub!");
    }

    public abstract Operation enqueueUniquePeriodicWork(
            String uniqueWorkName, ExistingPeriodicWorkPolicy existingPeriodicWorkPolicy, PeriodicWorkRequest periodicWork);

    public abstract Operation enqueueUniqueWork(
            String uniqueWorkName, ExistingWorkPolicy existingWorkPolicy, OneTimeWorkRequest work);

    public abstract Operation cancelUniqueWork(String uniqueWorkName);
}
