package android.content.pm;

import android.util.AndroidException;

/** Stub of android.content.pm.PackageManager. */
public abstract class PackageManager {
    public PackageManager() {}

    public abstract PackageInfo getPackageInfo(String packageName, int flags) throws NameNotFoundException;

    public static class NameNotFoundException extends AndroidException {
        public NameNotFoundException() {}

        public NameNotFoundException(String name) {
            super(name);
        }
    }
}
