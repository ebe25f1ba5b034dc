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
        for (c in s) {
            when {
                c == '"' -> out.append("\\\"")
                c == '\\' -> out.append("\\\\")
                c == '\n' -> out.append("\\n")
                c == '\r' -> out.append("\\r")
                c == '\t' -> out.append("\\t")
                c < ' ' -> {
                    out.append("\\u00")
                    out.append(HEX[c.code shr 4])
                    out.append(HEX[c.code and 0xF])
                }
                else -> out.append(c)
            }
        }
        out.append('"')
    }

    private val HEX = "0123456789abcdef".toCharArray()
}
