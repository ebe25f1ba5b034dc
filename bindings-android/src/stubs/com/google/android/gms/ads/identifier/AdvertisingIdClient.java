package com.google.android.gms.ads.identifier;

import android.content.Context;
import com.google.android.gms.common.GooglePlayServicesNotAvailableException;
import com.google.android.gms.common.GooglePlayServicesRepairableException;
import java.io.IOException;

/** Stub of AdvertisingIdClient (play-services-ads-identifier). */
public class AdvertisingIdClient {
    public AdvertisingIdClient(Context context) {}

    /** Blocking; throws IllegalStateException when called on the main thread. */
    public static AdvertisingIdClient.Info getAdvertisingIdInfo(Context context)
            throws IOException, IllegalStateException, GooglePlayServicesNotAvailableException,
                    GooglePlayServicesRepairableException {
        throw new RuntimeException("Stub!");
    }

    public static final class Info {
        public Info(String advertisingId, boolean limitAdTrackingEnabled) {}

        public String getId() {
            throw new RuntimeException("Stub!");
        }

        public boolean isLimitAdTrackingEnabled() {
            throw new RuntimeException("Stub!");
        }
    }
}
