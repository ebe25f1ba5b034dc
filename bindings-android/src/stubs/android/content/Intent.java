package android.content;

/** Stub of android.content.Intent (only as a type in a Play services signature). */
public class Intent {
    public Intent() {}
}
