// The check recordEvent makes on the caller's thread, with the core's rules
// (CaptureRules: the name pattern, the name, size and depth limits), so an
// invalid event is refused at once with the reason instead of being queued
// and dropped later. No rule is written down here: every number and the
// pattern come from the core at open. The core checks every event again
// when it crosses (record_captured) and stays the judge of last resort.
package dev.consentgate

import dev.consentgate.ffi.CaptureRules
import java.util.regex.Pattern

/** Judges event names and encoded properties by the core's [CaptureRules]. */
internal class EventCheck(rules: CaptureRules) {
    private val pattern: Pattern = Pattern.compile(rules.namePattern)
    private val maxNameBytes = rules.maxNameBytes
    private val maxPropertiesBytes = rules.maxPropertiesBytes
    private val maxDepth = rules.maxPropertiesDepth

    /** What the core charges a record besides the UTF-8 bytes of its name and properties. */
    val recordOverheadBytes: Int = rules.recordOverheadBytes.coerceIn(0L, 1024L).toInt()

    /**
     * The last name found valid. Apps record a handful of names over and
     * over; matching the same string again would only repeat the answer.
     */
    @Volatile
    private var lastValidName: String = ""

    /**
     * Why `name` or `properties` would be refused by the core, or null when
     * both are fine. The reason names the rule and the measure, never the
     * payload.
     */
    fun problem(name: String, properties: EncodedProperties): String? =
        nameProblem(name) ?: propertiesProblem(properties)

    private fun nameProblem(name: String): String? {
        if (name == lastValidName && name.isNotEmpty()) return null
        if (name.isEmpty()) return "event name is empty"
        val bytes = Utf8.length(name)
        if (bytes > maxNameBytes) return "event name is $bytes bytes long; the limit is $maxNameBytes"
        if (!pattern.matcher(name).matches()) return "event name does not match ${pattern.pattern()}"
        lastValidName = name
        return null
    }

    private fun propertiesProblem(p: EncodedProperties): String? = when {
        p.json == null -> null
        p.loneSurrogate ->
            "event properties hold a string with a lone surrogate (U+D800-U+DFFF), which JSON text cannot carry as UTF-8"
        p.utf8Bytes > maxPropertiesBytes ->
            "event properties are ${p.utf8Bytes} bytes of JSON; the limit is $maxPropertiesBytes"
        p.depth > maxDepth -> "event properties are nested ${p.depth} levels deep; the limit is $maxDepth"
        else -> null
    }
}

/** UTF-8 lengths without encoding. */
internal object Utf8 {
    /**
     * UTF-8 length of `s`: a surrogate pair is 4 bytes, 2 per char (a lone
     * surrogate, which the check refuses anyway, also counts 2).
     */
    fun length(s: String): Int {
        var n = s.length
        for (i in 0 until s.length) {
            val c = s[i]
            if (c >= '\u0080') n += if (c < '\u0800' || c.isSurrogate()) 1 else 2
        }
        return n
    }
}
