package androidx.work;

/** Stub of androidx.work.Constraints. */
public final class Constraints {
    private Constraints() {}

    public static final class Builder {
        public Builder() {}

        public Builder setRequiredNetworkType(NetworkType networkType) {
            throw new RuntimeException("Stub!");
        }

        public Constraints build() {
            throw new RuntimeException("Stub!");
        }
    }
}
