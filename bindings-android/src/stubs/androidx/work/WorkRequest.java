package androidx.work;

/** Stub of androidx.work.WorkRequest. */
public abstract class WorkRequest {
    WorkRequest() {}

    public abstract static class Builder<B extends Builder<?, ?>, W extends WorkRequest> {
        Builder() {}

        public final B setConstraints(Constraints constraints) {
            throw new RuntimeException("Stub!");
        }

        public final B setInputData(Data inputData) {
            throw new RuntimeException("Stub!");
        }

        public final B addTag(String tag) {
            throw new RuntimeException("Stub!");
        }

        public final W build() {
            throw new RuntimeException("Stub!");
        }
    }
}
