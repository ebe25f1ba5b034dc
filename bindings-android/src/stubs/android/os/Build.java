package android.os;

/** Stub of android.os.Build. The values are not constants, so nothing is inlined from here. */
public class Build {
    public static final String MANUFACTURER = stub();
    public static final String MODEL = stub();

    public Build() {}

    public static class VERSION {
        public static final String RELEASE = stub();
        public static final int SDK_INT = Integer.parseInt("0");

        public VERSION() {}
    }

    private static String stub() {
        return null;
    }
}
