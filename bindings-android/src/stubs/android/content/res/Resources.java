package android.content.res;

import android.util.DisplayMetrics;

/** Stub of android.content.res.Resources. */
public class Resources {
    private Resources() {}

    public DisplayMetrics getDisplayMetrics() {
        throw new RuntimeException("Stub!");
    }
}
