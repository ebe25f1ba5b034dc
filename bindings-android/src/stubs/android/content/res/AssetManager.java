package android.content.res;

import java.io.IOException;
import java.io.InputStream;

/** Stub of android.content.res.AssetManager. */
public final class AssetManager implements AutoCloseable {
    private AssetManager() {}

    public InputStream open(String fileName) throws IOException {
        throw new RuntimeException("Stub!");
    }

    public void close() {
        throw new RuntimeException("Stub!");
    }
}
