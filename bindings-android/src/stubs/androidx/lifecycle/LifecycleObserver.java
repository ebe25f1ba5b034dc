package androidx.lifecycle;

/** Stub of androidx.lifecycle.LifecycleObserver (a marker interface). */
public interface LifecycleObserver {}
