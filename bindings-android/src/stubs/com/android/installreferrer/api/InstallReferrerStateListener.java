package com.android.installreferrer.api;

/** Stub of InstallReferrerStateListener (com.android.installreferrer:installreferrer 2.2). */
public interface InstallReferrerStateListener {
    void onInstallReferrerSetupFinished(int responseCode);

    void onInstallReferrerServiceDisconnected();
}
