package android.content;

import java.util.Map;
import java.util.Set;

/** Stub of android.content.SharedPreferences (API 1; the null-key change callback API 30). */
public interface SharedPreferences {
    Map<String, ?> getAll();

    String getString(String key, String defValue);

    Set<String> getStringSet(String key, Set<String> defValues);

    int getInt(String key, int defValue);

    long getLong(String key, long defValue);

    float getFloat(String key, float defValue);

    boolean getBoolean(String key, boolean defValue);

    boolean contains(String key);

    Editor edit();

    void registerOnSharedPreferenceChangeListener(OnSharedPreferenceChangeListener listener);

    void unregisterOnSharedPreferenceChangeListener(OnSharedPreferenceChangeListener listener);

    /** Stub of SharedPreferences.Editor. */
    interface Editor {
        Editor putString(String key, String value);

        Editor putInt(String key, int value);

        Editor remove(String key);

        Editor clear();

        boolean commit();

        void apply();
    }

    /** Stub of SharedPreferences.OnSharedPreferenceChangeListener. */
    interface OnSharedPreferenceChangeListener {
        /** Called on the main thread; `key` is null after Editor.clear() (API 30+). */
        void onSharedPreferenceChanged(SharedPreferences sharedPreferences, String key);
    }
}
