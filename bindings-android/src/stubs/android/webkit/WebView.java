package android.webkit;

import android.view.View;

/** Stub of android.webkit.WebView (extends AbsoluteLayout in the SDK; only View's post is used). */
public class WebView extends View {
    public WebView() {}

    public void loadUrl(String url) {
        throw new RuntimeException("Stub!");
    }

    public void addJavascriptInterface(Object object, String name) {
        throw new RuntimeException("Stub!");
    }

    public void removeJavascriptInterface(String name) {
        throw new RuntimeException("Stub!");
    }

    /** API 19; must be called on the UI thread. */
    public void evaluateJavascript(String script, ValueCallback<String> resultCallback) {
        throw new RuntimeException("Stub!");
    }
}
