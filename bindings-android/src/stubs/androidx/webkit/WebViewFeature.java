package androidx.webkit;

/** Stub of androidx.webkit.WebViewFeature (androidx.webkit 1.5+). */
public class WebViewFeature {
    private WebViewFeature() {}

    public static final String DOCUMENT_START_SCRIPT = "DOCUMENT_START_SCRIPT";

    public static boolean isFeatureSupported(String feature) {
        throw new RuntimeException("Stub!");
    }
}
