package com.google.android.gms.common;

/** Stub of UserRecoverableException. */
public class UserRecoverableException extends Exception {
    public UserRecoverableException(String msg, android.content.Intent intent) {
        super(msg);
    }
}
