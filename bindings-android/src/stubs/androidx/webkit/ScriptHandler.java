package androidx.webkit;

/** Stub of androidx.webkit.ScriptHandler. */
public interface ScriptHandler {
    /** Must be called on the UI thread. */
    void remove();
}
