package android.view;

/** Stub of android.view.View (only what the WebView adapter uses). */
public class View {
    public View() {}

    public boolean post(Runnable action) {
        throw new RuntimeException("Stub!");
    }
}
