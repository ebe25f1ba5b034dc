// Event properties (a Map<String, Any?>) as JSON text, written on the
// caller's thread, with the facts the event check needs (depth, UTF-8
// length, lone surrogates). An encoder only: the limits are the core's
// (EventCheck reads them from CaptureRules).
package dev.consentgate

import java.math.BigDecimal
import java.math.BigInteger

/**
 * Event properties as the JSON object text the core takes, with the facts
 * [EventCheck] needs to judge them without parsing: the nesting depth
 * (`{"a":1}` is 1, as the core counts it), the UTF-8 length and whether a
 * string held a lone surrogate (which no JSON text can carry as UTF-8).
 *
 * @property json the object text, or null for no properties.
 */
internal class EncodedProperties(val json: String?, val depth: Int, val utf8Bytes: Int, val loneSurrogate: Boolean) {
    companion object {
        /** No properties: nothing to send, nothing to check. */
        val NONE = EncodedProperties(null, 0, 0, false)
    }
}

/**
 * Turns event properties into the JSON object text the core takes. Only an
 * encoder: whether the result is acceptable (size, depth) is decided by
 * [EventCheck] with the core's rules. It refuses, with
 * [IllegalArgumentException], only values that have no JSON form at all.
 */
internal object EventJson {
    /**
     * Guards against a map that contains itself. Far above any depth the
     * core accepts, so it never decides whether an event is accepted.
     */
    private const val MAX_NESTING = 64

    /** [EncodedProperties.NONE] for no properties, so an event without them carries nothing. */
    fun encode(properties: Map<String, Any?>): EncodedProperties {
        if (properties.isEmpty()) return EncodedProperties.NONE
        val w = Writer(StringBuilder(32 + properties.size * 24))
        w.writeMap(properties, 1)
        val json = w.out.toString()
        return EncodedProperties(json, w.maxDepth, Utf8.length(json), w.loneSurrogate)
    }

    /** One encoding: the text so far and what was seen on the way. */
    private class Writer(val out: StringBuilder) {
        var maxDepth = 0
        var loneSurrogate = false

        fun writeValue(value: Any?, depth: Int) {
            when (value) {
                null -> out.append("null")
                is String -> writeString(value)
                is Boolean -> out.append(if (value) "true" else "false")
                is Int, is Long, is Short, is Byte -> out.append(value.toString())
                is BigInteger -> writeBig(value, value.toDouble())
                is Double -> writeFloating(out, value)
                is Float -> writeFloating(out, value.toDouble())
                is BigDecimal -> writeBig(value, value.toDouble())
                is Number -> writeFloating(out, value.toDouble())
                is UInt, is ULong, is UShort, is UByte -> out.append(value.toString())
                is CharSequence, is Char, is Enum<*> -> writeString(if (value is Enum<*>) value.name else value.toString())
                is Map<*, *> -> writeMap(value, depth + 1)
                is Iterable<*> -> writeList(value.iterator(), depth + 1)
                is Array<*> -> writeList(value.iterator(), depth + 1)
                is IntArray -> writeList(value.iterator(), depth + 1)
                is LongArray -> writeList(value.iterator(), depth + 1)
                is DoubleArray -> writeList(value.iterator(), depth + 1)
                is FloatArray -> writeList(value.iterator(), depth + 1)
                is BooleanArray -> writeList(value.iterator(), depth + 1)
                is ShortArray -> writeList(value.iterator(), depth + 1)
                else -> throw IllegalArgumentException(
                    "event properties: a ${value::class.java.name} cannot be written as JSON; " +
                        "use strings, numbers, booleans, null, maps and lists",
                )
            }
        }

        /**
         * An exact number as written; one beyond the range of a 64-bit float
         * has no JSON form readers agree on (RFC 8259 §6), the core's included.
         */
        private fun writeBig(value: Number, asDouble: Double) {
            require(!asDouble.isInfinite()) {
                "event properties: a number of ${value.toString().length} digits is beyond the range of a 64-bit float; " +
                    "JSON readers cannot read it back (send it as a string)"
            }
            out.append(value.toString())
        }

        fun writeMap(map: Map<*, *>, depth: Int) {
            enter(depth)
            out.append('{')
            var first = true
            for ((key, value) in map) {
                require(key is String) {
                    "event properties: map keys must be strings, found a ${key?.let { it::class.java.name }}"
                }
                if (!first) out.append(',')
                first = false
                writeString(key)
                out.append(':')
                writeValue(value, depth)
            }
            out.append('}')
        }

        private fun writeList(items: Iterator<*>, depth: Int) {
            enter(depth)
            out.append('[')
            var first = true
            for (item in items) {
                if (!first) out.append(',')
                first = false
                writeValue(item, depth)
            }
            out.append(']')
        }

        private fun enter(depth: Int) {
            require(depth <= MAX_NESTING) { "event properties nest more than $MAX_NESTING levels (a map containing itself?)" }
            if (depth > maxDepth) maxDepth = depth
        }

        fun writeString(s: String) {
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
                    // text stays well-formed UTF-16; a lone surrogate is noted, and the
                    // event refused by the check (the core refuses it too).
                    else -> {
                        if (c.isSurrogate()) loneSurrogate = true
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
    }

    private fun writeFloating(out: StringBuilder, d: Double) {
        require(!d.isNaN() && !d.isInfinite()) { "event properties: $d has no JSON form" }
        // Whole numbers keep their integer spelling (3, not 3.0) when exact.
        if (d == Math.rint(d) && Math.abs(d) < 1e15) out.append(d.toLong()) else out.append(d.toString())
    }

    private val HEX = "0123456789abcdef".toCharArray()
}
