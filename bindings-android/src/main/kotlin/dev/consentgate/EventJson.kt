package dev.consentgate

import java.math.BigDecimal
import java.math.BigInteger

/**
 * Turns event properties into the JSON object text the core takes. Only an
 * encoder: the size and depth limits and every other rule about properties
 * are the core's, which reports them as [dev.consentgate.ffi.GateException] `InvalidArgument`.
 */
internal object EventJson {
    /**
     * Guards against a map that contains itself. Far above the core's own
     * depth limit, so it never decides whether an event is accepted.
     */
    private const val MAX_NESTING = 64

    /** `null` for no properties, so an event without them carries nothing. */
    fun encode(properties: Map<String, Any?>): String? {
        if (properties.isEmpty()) return null
        val out = StringBuilder(32 + properties.size * 24)
        writeMap(out, properties, 1)
        return out.toString()
    }

    private fun writeValue(out: StringBuilder, value: Any?, depth: Int) {
        when (value) {
            null -> out.append("null")
            is String -> writeString(out, value)
            is Boolean -> out.append(if (value) "true" else "false")
            is Int, is Long, is Short, is Byte, is BigInteger -> out.append(value.toString())
            is Double -> writeFloating(out, value)
            is Float -> writeFloating(out, value.toDouble())
            is BigDecimal -> out.append(value.toString())
            is Number -> writeFloating(out, value.toDouble())
            is UInt, is ULong, is UShort, is UByte -> out.append(value.toString())
            is CharSequence, is Char, is Enum<*> -> writeString(out, if (value is Enum<*>) value.name else value.toString())
            is Map<*, *> -> writeMap(out, value, depth + 1)
            is Iterable<*> -> writeList(out, value.iterator(), depth + 1)
            is Array<*> -> writeList(out, value.iterator(), depth + 1)
            is IntArray -> writeList(out, value.iterator(), depth + 1)
            is LongArray -> writeList(out, value.iterator(), depth + 1)
            is DoubleArray -> writeList(out, value.iterator(), depth + 1)
            is FloatArray -> writeList(out, value.iterator(), depth + 1)
            is BooleanArray -> writeList(out, value.iterator(), depth + 1)
            is ShortArray -> writeList(out, value.iterator(), depth + 1)
            else -> throw IllegalArgumentException(
                "event properties: a ${value::class.java.name} cannot be written as JSON; " +
                    "use strings, numbers, booleans, null, maps and lists",
            )
        }
    }

    private fun writeMap(out: StringBuilder, map: Map<*, *>, depth: Int) {
        checkDepth(depth)
        out.append('{')
        var first = true
        for ((key, value) in map) {
            require(key is String) {
                "event properties: map keys must be strings, found a ${key?.let { it::class.java.name }}"
            }
            if (!first) out.append(',')
            first = false
            writeString(out, key)
            out.append(':')
            writeValue(out, value, depth)
        }
        out.append('}')
    }

    private fun writeList(out: StringBuilder, items: Iterator<*>, depth: Int) {
        checkDepth(depth)
        out.append('[')
        var first = true
        for (item in items) {
            if (!first) out.append(',')
            first = false
            writeValue(out, item, depth)
        }
        out.append(']')
    }

    private fun checkDepth(depth: Int) {
        require(depth <= MAX_NESTING) { "event properties nest more than $MAX_NESTING levels (a map containing itself?)" }
    }

    private fun writeFloating(out: StringBuilder, d: Double) {
        require(!d.isNaN() && !d.isInfinite()) { "event properties: $d has no JSON form" }
        // Whole numbers keep their integer spelling (3, not 3.0) when exact.
        if (d == Math.rint(d) && Math.abs(d) < 1e15) out.append(d.toLong()) else out.append(d.toString())
    }

    private fun writeString(out: StringBuilder, s: String) {
        out.append('"')
        // Runs of characters that need no escape are copied in one go.
        var start = 0
        var i = 0
        val n = s.length
        while (i < n) {
            val c = s[i]
            if (c >= ' ' && c != '"' && c != '\\' && !c.isSurrogate()) {
                i++
                continue
            }
            if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s[i + 1])) {
                i += 2 // a well-formed pair is copied as it is
                continue
            }
            out.append(s, start, i)
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                // Control characters, and lone surrogates: written as \uXXXX so the
                // text stays well-formed UTF-16 on its way through JNA; the core
                // refuses a lone surrogate as invalid JSON.
                else -> {
                    out.append("\\u")
                    out.append(HEX[(c.code shr 12) and 0xF])
                    out.append(HEX[(c.code shr 8) and 0xF])
                    out.append(HEX[(c.code shr 4) and 0xF])
                    out.append(HEX[c.code and 0xF])
                }
            }
            i++
            start = i
        }
        out.append(s, start, n)
        out.append('"')
    }

    /**
     * True when `s` is well-formed UTF-16 (no lone surrogate), which JNA
     * needs to pass it to the core as UTF-8.
     */
    fun isWellFormed(s: String): Boolean {
        var i = 0
        val n = s.length
        while (i < n) {
            val c = s[i]
            if (c.isSurrogate()) {
                if (!Character.isHighSurrogate(c) || i + 1 >= n || !Character.isLowSurrogate(s[i + 1])) return false
                i++
            }
            i++
        }
        return true
    }

    /**
     * `name` as it can cross JNA: a lone surrogate (which UTF-8 cannot carry)
     * becomes U+FFFD. Only for names the core then refuses anyway (names are
     * ASCII), so the event is counted as invalid instead of failing the batch.
     */
    fun crossableName(name: String): String {
        if (isWellFormed(name)) return name
        val out = StringBuilder(name.length)
        var i = 0
        while (i < name.length) {
            val c = name[i]
            if (Character.isHighSurrogate(c) && i + 1 < name.length && Character.isLowSurrogate(name[i + 1])) {
                out.append(c).append(name[i + 1])
                i += 2
                continue
            }
            out.append(if (c.isSurrogate()) '\uFFFD' else c)
            i++
        }
        return out.toString()
    }

    private val HEX = "0123456789abcdef".toCharArray()
}
