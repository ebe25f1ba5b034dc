package android.app;

import android.content.ContextWrapper;

/** Stub of android.app.Application (API 1), for the README snippets' App class. */
public class Application extends ContextWrapper {
    public Application() {
        super(null);
        throw new RuntimeException("Stub!");
    }

    public void onCreate() {
        throw new RuntimeException("Stub!");
    }
}
