package com.google.android.gms.common;

/** Stub of GooglePlayServicesRepairableException. */
public class GooglePlayServicesRepairableException extends UserRecoverableException {
    private GooglePlayServicesRepairableException() {
        super(null, null);
    }

    public int getConnectionStatusCode() {
        throw new RuntimeException("Stub!");
    }
}
