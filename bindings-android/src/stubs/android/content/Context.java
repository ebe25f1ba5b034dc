package android.content;

import android.content.pm.PackageManager;
import android.content.res.AssetManager;
import android.content.res.Resources;
import java.io.File;

/** Stub of android.content.Context (API 1; getNoBackupFilesDir API 21). */
public abstract class Context {
    public static final String TELEPHONY_SERVICE = "phone";

    public static final int MODE_PRIVATE = 0;

    public Context() {}

    public abstract AssetManager getAssets();

    public abstract Resources getResources();

    public abstract PackageManager getPackageManager();

    public abstract String getPackageName();

    public abstract Context getApplicationContext();

    public abstract File getNoBackupFilesDir();

    public abstract Object getSystemService(String name);

    public abstract SharedPreferences getSharedPreferences(String name, int mode);
}
