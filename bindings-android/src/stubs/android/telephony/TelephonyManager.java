package android.telephony;

/** Stub of android.telephony.TelephonyManager. */
public class TelephonyManager {
    private TelephonyManager() {}

    public String getNetworkOperatorName() {
        throw new RuntimeException("Stub!");
    }
}
