package androidx.lifecycle;

/** Stub of androidx.lifecycle.Lifecycle (lifecycle-common 2.8). */
public abstract class Lifecycle {
    public Lifecycle() {}

    public abstract void addObserver(LifecycleObserver observer);

    public abstract void removeObserver(LifecycleObserver observer);

    public abstract State getCurrentState();

    public enum State {
        DESTROYED,
        INITIALIZED,
        CREATED,
        STARTED,
        RESUMED;

        public boolean isAtLeast(State state) {
            throw new RuntimeException("Stub!");
        }
    }
}
