// Where consentgate's log lines go: the core's (through its Logger callback)
// and the Kotlin layer's own, to one sink the app chooses. Setting the sink
// never loads the native library on the caller's thread: the sink is handed
// to the core by the thread that opens a gate (or at once, once one has).
package dev.consentgate

import dev.consentgate.ffi.setLogger
import java.util.logging.Level
import dev.consentgate.ffi.LogLevel as N_LogLevel
import dev.consentgate.ffi.Logger as N_Logger

/**
 * Where consentgate's own log lines go. The core never puts event payloads,
 * identifiers or device values in lines above `TRACE`; this bridge adds
 * nothing to them.
 *
 * ```kotlin
 * ConsentGateLogging.forwardToJavaLogging(LogLevel.INFO)          // JVM
 * ConsentGateLogging.forwardTo(LogLevel.DEBUG) { level, target, message -> println("$level $message") }
 * ```
 *
 * The setting is process-wide and replaces any earlier one; set it before
 * [ConsentGate.open] to see the open's lines. It costs the caller nothing:
 * the core is told by the thread that opens a gate. Lines can arrive on any
 * thread, including the core's writer thread.
 */
object ConsentGateLogging {
    /** The sink and level last given to [forwardTo]. Guarded by this object. */
    private var wanted: Bridge? = null

    /** The sink the core has. Guarded by this object. */
    private var installed: Bridge? = null

    /** The native library is loaded: telling the core is cheap. Guarded by this object. */
    private var nativeReady = false

    /** [wanted], for lines the Kotlin layer writes itself. */
    @Volatile
    private var kotlinSide: Bridge? = null

    /**
     * Sends lines at `maxLevel` and more severe to `sink`. An exception thrown
     * by `sink` is swallowed: logging must never fail a consent operation.
     */
    fun forwardTo(maxLevel: LogLevel = LogLevel.INFO, sink: (level: LogLevel, target: String, message: String) -> Unit) {
        val bridge = Bridge(sink, maxLevel)
        synchronized(this) {
            wanted = bridge
            kotlinSide = bridge
            if (nativeReady) installLocked()
        }
    }

    /** Sends lines to a `java.util.logging` logger (`dev.consentgate` by default). */
    fun forwardToJavaLogging(
        maxLevel: LogLevel = LogLevel.INFO,
        logger: java.util.logging.Logger = java.util.logging.Logger.getLogger("dev.consentgate"),
    ) {
        forwardTo(maxLevel) { level, target, message ->
            val julLevel = level.toJulLevel()
            if (logger.isLoggable(julLevel)) logger.logp(julLevel, target, null, message)
        }
    }

    /**
     * A line from the Kotlin layer (target `consentgate::kotlin`), through the
     * same sink and level as the core's. Same rule as the core: no event
     * payload, identifier or device value in `message`.
     */
    internal fun log(level: LogLevel, message: String) {
        val bridge = kotlinSide ?: return
        if (level.ordinal <= bridge.maxLevel.ordinal) bridge.deliver(level, "consentgate::kotlin", message)
    }

    /**
     * Called by the open thread once the native library is set up, before
     * the core opens: hands the wanted sink to the core, so the open's own
     * lines reach it, and from then on [forwardTo] tells the core at once.
     */
    internal fun nativeReady() {
        synchronized(this) {
            nativeReady = true
            installLocked()
        }
    }

    private fun installLocked() {
        val bridge = wanted ?: return
        if (bridge === installed) return
        setLogger(bridge, Convert.level(bridge.maxLevel))
        installed = bridge
    }

    private fun LogLevel.toJulLevel(): Level = when (this) {
        LogLevel.ERROR -> Level.SEVERE
        LogLevel.WARN -> Level.WARNING
        LogLevel.INFO -> Level.INFO
        LogLevel.DEBUG -> Level.FINE
        LogLevel.TRACE -> Level.FINEST
    }

    private class Bridge(
        private val sink: (LogLevel, String, String) -> Unit,
        val maxLevel: LogLevel,
    ) : N_Logger {
        override fun log(level: N_LogLevel, target: String, message: String) = deliver(Convert.level(level), target, message)

        fun deliver(level: LogLevel, target: String, message: String) {
            try {
                sink(level, target, message)
            } catch (e: Exception) {
                // An exception thrown back into the core would be a panic there.
            }
        }
    }
}
