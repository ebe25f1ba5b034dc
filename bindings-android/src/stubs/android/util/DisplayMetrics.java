package android.util;

/** Stub of android.util.DisplayMetrics. */
public class DisplayMetrics {
    public int widthPixels;
    public int heightPixels;
    public float density;
    public int densityDpi;

    public DisplayMetrics() {}
}
