package androidx.webkit;

import android.webkit.WebView;
import java.util.Set;

/** Stub of androidx.webkit.WebViewCompat (addDocumentStartJavaScript: androidx.webkit 1.5+, feature DOCUMENT_START_SCRIPT). */
public class WebViewCompat {
    private WebViewCompat() {}

    public static ScriptHandler addDocumentStartJavaScript(WebView webview, String script, Set<String> allowedOriginRules) {
        throw new RuntimeException("Stub!");
    }
}
