package android.util;

/** Stub of android.util.Log. */
public final class Log {
    public static final int VERBOSE = 2;
    public static final int DEBUG = 3;
    public static final int INFO = 4;
    public static final int WARN = 5;
    public static final int ERROR = 6;
    public static final int ASSERT = 7;

    private Log() {}

    public static int println(int priority, String tag, String msg) {
        throw new RuntimeException("Stub!");
    }

    public static boolean isLoggable(String tag, int level) {
        throw new RuntimeException("Stub!");
    }
}
