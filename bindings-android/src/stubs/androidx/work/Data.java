package androidx.work;

/** Stub of androidx.work.Data. */
public final class Data {
    private Data() {}

    public String getString(String key) {
        throw new RuntimeException("Stub!");
    }

    public static final class Builder {
        public Builder() {}

        public Builder putString(String key, String value) {
            throw new RuntimeException("Stub!");
        }

        public Data build() {
            throw new RuntimeException("Stub!");
        }
    }
}
