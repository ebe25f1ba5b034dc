package com.android.installreferrer.api;

import android.content.Context;
import android.os.RemoteException;

/** Stub of InstallReferrerClient (com.android.installreferrer:installreferrer 2.2). */
public abstract class InstallReferrerClient {
    public InstallReferrerClient() {}

    public static Builder newBuilder(Context context) {
        throw new RuntimeException("Stub!");
    }

    public abstract boolean isReady();

    public abstract void startConnection(InstallReferrerStateListener listener);

    public abstract void endConnection();

    public abstract ReferrerDetails getInstallReferrer() throws RemoteException;

    /** Stub of InstallReferrerClient.Builder. */
    public static final class Builder {
        Builder() {}

        public InstallReferrerClient build() {
            throw new RuntimeException("Stub!");
        }
    }

    /** Stub of InstallReferrerClient.InstallReferrerResponse (an int-constant annotation in the library). */
    public @interface InstallReferrerResponse {
        int SERVICE_DISCONNECTED = -1;
        int OK = 0;
        int SERVICE_UNAVAILABLE = 1;
        int FEATURE_NOT_SUPPORTED = 2;
        int DEVELOPER_ERROR = 3;
        int PERMISSION_ERROR = 4;
    }
}
