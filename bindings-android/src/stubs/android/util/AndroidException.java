package android.util;

/** Stub of android.util.AndroidException. */
public class AndroidException extends Exception {
    public AndroidException() {}

    public AndroidException(String name) {
        super(name);
    }
}
