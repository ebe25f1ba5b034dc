package androidx.work;

/** Stub of androidx.work.ExistingWorkPolicy. */
public enum ExistingWorkPolicy {
    REPLACE,
    KEEP,
    APPEND,
    APPEND_OR_REPLACE
}
