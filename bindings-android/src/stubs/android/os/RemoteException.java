package android.os;

import android.util.AndroidException;

/** Stub of android.os.RemoteException. */
public class RemoteException extends AndroidException {
    public RemoteException() {}

    public RemoteException(String message) {
        super(message);
    }
}
