package com.android.installreferrer.api;

/** Stub of ReferrerDetails (com.android.installreferrer:installreferrer 2.2). */
public class ReferrerDetails {
    ReferrerDetails() {}

    public String getInstallReferrer() {
        throw new RuntimeException("Stub!");
    }

    public long getReferrerClickTimestampSeconds() {
        throw new RuntimeException("Stub!");
    }

    public long getInstallBeginTimestampSeconds() {
        throw new RuntimeException("Stub!");
    }

    public long getReferrerClickTimestampServerSeconds() {
        throw new RuntimeException("Stub!");
    }

    public long getInstallBeginTimestampServerSeconds() {
        throw new RuntimeException("Stub!");
    }

    public String getInstallVersion() {
        throw new RuntimeException("Stub!");
    }

    public boolean getGooglePlayInstantParam() {
        throw new RuntimeException("Stub!");
    }
}
