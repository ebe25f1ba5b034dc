package androidx.work;

/** Stub of androidx.work.ExistingPeriodicWorkPolicy. */
public enum ExistingPeriodicWorkPolicy {
    REPLACE,
    KEEP,
    UPDATE,
    CANCEL_AND_REENQUEUE
}
