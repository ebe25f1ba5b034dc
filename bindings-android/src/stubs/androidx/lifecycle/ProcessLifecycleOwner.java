package androidx.lifecycle;

/** Stub of androidx.lifecycle.ProcessLifecycleOwner (lifecycle-process 2.8). */
public final class ProcessLifecycleOwner implements LifecycleOwner {
    private ProcessLifecycleOwner() {}

    public static LifecycleOwner get() {
        throw new RuntimeException("Stub!");
    }

    @Override
    public Lifecycle getLifecycle() {
        throw new RuntimeException("Stub!");
    }
}
