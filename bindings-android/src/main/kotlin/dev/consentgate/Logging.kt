package dev.consentgate

import dev.consentgate.ffi.LogLevel
import dev.consentgate.ffi.setLogger
import java.util.logging.Level

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
 * The setting is process-wide and replaces any earlier one. Lines can arrive
 * on any thread, including the core's writer thread.
 */
object ConsentGateLogging {
    /**
     * Sends lines at `maxLevel` and more severe to `sink`. An exception thrown
     * by `sink` is swallowed: logging must never fail a consent operation.
     */
    fun forwardTo(maxLevel: LogLevel = LogLevel.INFO, sink: (level: LogLevel, target: String, message: String) -> Unit) {
        val bridge = Bridge(sink)
        setLogger(bridge, maxLevel)
        kotlinSide = bridge to maxLevel
    }

    /** The sink and level last given to [forwardTo], for lines the Kotlin layer writes itself. */
    @Volatile
    private var kotlinSide: Pair<Bridge, LogLevel>? = null

    /**
     * A line from the Kotlin layer (target `consentgate::kotlin`), through the
     * same sink and level as the core's. Same rule as the core: no event
     * payload, identifier or device value in `message`.
     */
    internal fun log(level: LogLevel, message: String) {
        val (bridge, max) = kotlinSide ?: return
        if (level.ordinal <= max.ordinal) bridge.log(level, "consentgate::kotlin", message)
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

    private fun LogLevel.toJulLevel(): Level = when (this) {
        LogLevel.ERROR -> Level.SEVERE
        LogLevel.WARN -> Level.WARNING
        LogLevel.INFO -> Level.INFO
        LogLevel.DEBUG -> Level.FINE
        LogLevel.TRACE -> Level.FINEST
    }

    private class Bridge(
        private val sink: (LogLevel, String, String) -> Unit,
    ) : dev.consentgate.ffi.Logger {
        override fun log(level: LogLevel, target: String, message: String) {
            try {
                sink(level, target, message)
            } catch (e: Exception) {
                // An exception thrown back into the core would be a panic there.
            }
        }
    }
}
