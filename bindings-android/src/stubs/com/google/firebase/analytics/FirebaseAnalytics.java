package com.google.firebase.analytics;

import android.content.Context;
import java.util.Map;

/** Stub of FirebaseAnalytics (com.google.firebase:firebase-analytics; setConsent since 17.5, the v2 types since 21.5). */
public final class FirebaseAnalytics {
    private FirebaseAnalytics() {}

    public static FirebaseAnalytics getInstance(Context context) {
        throw new RuntimeException("Stub!");
    }

    public void setConsent(Map<ConsentType, ConsentStatus> consentSettings) {
        throw new RuntimeException("Stub!");
    }

    /** Stub of FirebaseAnalytics.ConsentType. */
    public enum ConsentType {
        AD_STORAGE,
        ANALYTICS_STORAGE,
        AD_USER_DATA,
        AD_PERSONALIZATION
    }

    /** Stub of FirebaseAnalytics.ConsentStatus. */
    public enum ConsentStatus {
        GRANTED,
        DENIED
    }
}
