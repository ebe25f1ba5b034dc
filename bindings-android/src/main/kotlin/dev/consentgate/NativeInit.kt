// The native set-up of a cold start, begun as early as possible and on a
// thread of its own: JNA's own native part and classes, the dlopen of
// libconsentgate, and UniFFI's set-up (its contract-version and checksum
// checks, binding every scaffolding function, the callback tables handed to
// the core). It is most of a cold start and needs nothing from the gate, so
// it overlaps the class loading that `open` and the open thread do
// meanwhile. No consent rule here; nothing crosses to the core but UniFFI's
// own checks.
package dev.consentgate

import dev.consentgate.ffi.uniffiEnsureInitialized

/** Loads and sets up the native library once per process, on `consentgate-init`. */
internal object NativeInit {
    private var thread: Thread? = null

    @Volatile
    private var failure: Throwable? = null

    /** Starts the set-up unless it has started already. Cheap: one thread start. */
    fun start() {
        synchronized(this) {
            if (thread != null) return
            val t = Thread(Setup, "consentgate-init")
            t.isDaemon = true
            thread = t
            t.start()
        }
    }

    /**
     * Waits until the native library is set up, starting the set-up if
     * needed. Rethrows the set-up's own failure (a missing library, a
     * library built from another version of the core), every time: the JVM
     * would only say "could not initialize class" on later uses.
     */
    fun await() {
        start()
        val t = synchronized(this) { thread } ?: return
        awaitUninterruptibly { t.join() }
        failure?.let { throw it }
    }

    /** What `consentgate-init` runs (a class, not a lambda: see ConsentGate's OpenTask). */
    private object Setup : Runnable {
        override fun run() {
            try {
                // The generated code runs its contract-version and checksum
                // checks only from here (nothing else calls it), so a library
                // of another build is caught at open instead of misbehaving later.
                uniffiEnsureInitialized()
            } catch (t: Throwable) {
                failure = t
            }
        }
    }
}
