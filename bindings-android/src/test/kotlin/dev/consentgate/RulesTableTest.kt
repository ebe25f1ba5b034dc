package dev.consentgate

import org.junit.Test
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertTrue

/**
 * `recordEvent` judges events on the calling thread with the rules the core
 * exports (`capture_rules()`), keeping none of its own. This table of good
 * and bad names and property documents must get the same verdict from that
 * check as from the core itself (`recordEventNow`, which the core validates).
 */
class RulesTableTest {
    private class Case(val label: String, val name: String, val properties: Map<String, Any?> = emptyMap())

    /** `{"k":"xx…x<tail>"}`, whose JSON text is exactly `bytes` bytes of UTF-8. */
    private fun sized(bytes: Int, tail: String = ""): Map<String, Any?> {
        val value = "x".repeat(bytes - "{\"k\":\"\"}".length - tail.toByteArray(Charsets.UTF_8).size) + tail
        return mapOf("k" to value)
    }

    private fun nested(levels: Int, list: Boolean = false): Map<String, Any?> {
        var v: Any? = 1
        repeat(levels - 1) { v = if (list) listOf(v) else mapOf("n" to v) }
        return mapOf("top" to v)
    }

    private val lone = "\uD800"

    private val cases = listOf(
        Case("plain", "screen_view"),
        Case("one letter", "a"),
        Case("all allowed characters", "A.b-c_9"),
        Case("64 characters", "a".repeat(64)),
        Case("65 characters", "a".repeat(65)),
        Case("starts with a digit", "9lives"),
        Case("starts with an underscore", "_private"),
        Case("empty", ""),
        Case("space", "has space"),
        Case("punctuation", "bad!"),
        Case("trailing newline", "abc\n"),
        Case("tab", "ab\tc"),
        Case("NUL", "ab\u0000"),
        Case("accented letter", "café"),
        Case("fullwidth letter", "\uFF21bc"),
        Case("emoji", "tap\uD83D\uDE00"),
        Case("lone surrogate in the name", "ab$lone"),
        Case("no properties", "e", emptyMap()),
        Case("small properties", "e", mapOf("screen" to "home", "n" to 3, "ok" to true, "none" to null)),
        Case("16384 bytes of JSON", "e", sized(16_384)),
        Case("16385 bytes of JSON", "e", sized(16_385)),
        Case("16384 bytes ending in a 2-byte character", "e", sized(16_384, "é")),
        Case("16385 bytes ending in a 2-byte character", "e", sized(16_385, "é")),
        Case("16385 bytes ending in a 3-byte character", "e", sized(16_385, "€")),
        Case("16384 bytes ending in an emoji", "e", sized(16_384, "\uD83D\uDE00")),
        Case("16385 bytes ending in an emoji", "e", sized(16_385, "\uD83D\uDE00")),
        Case("8 levels of maps", "e", nested(8)),
        Case("9 levels of maps", "e", nested(9)),
        Case("8 levels with lists", "e", nested(8, list = true)),
        Case("9 levels with lists", "e", nested(9, list = true)),
        Case("an empty map inside", "e", mapOf("m" to emptyMap<String, Any?>())),
        Case("lone surrogate in a value", "e", mapOf("v" to "x${lone}y")),
        Case("lone surrogate in a key", "e", mapOf("k$lone" to 1)),
        Case("a well-formed surrogate pair", "e", mapOf("v" to "\uD83D\uDE00")),
        Case("control characters", "e", mapOf("v" to "\u0001\u001f\n\"\\")),
        Case("a big exact integer", "e", mapOf("v" to java.math.BigInteger("123456789012345678901234567890"))),
        Case("a long", "e", mapOf("v" to Long.MAX_VALUE)),
    )

    @Test
    fun recordEvent_refuses_exactly_what_the_core_refuses() {
        Fixtures.open().use { gate ->
            gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER)
            val disagreements = ArrayList<String>()
            var refused = 0
            for (c in cases) {
                val kotlin = gate.recordEvent(c.name, c.properties)
                val core = runCatching { gate.recordEventNowBlocking(c.name, c.properties) }.exceptionOrNull()
                val kotlinRefused = kotlin is RecordResult.Invalid
                val coreRefused = core is GateException.InvalidArgument
                check(core == null || coreRefused) { "${c.label}: unexpected $core" }
                if (kotlinRefused) refused++
                if (kotlinRefused != coreRefused) {
                    disagreements += "${c.label}: Kotlin says $kotlin, the core says ${core?.message ?: "recorded"}"
                }
            }
            assertEquals(emptyList(), disagreements)
            assertTrue(refused >= 12, "the table has only $refused bad cases")
            // Nothing Kotlin let through was refused later, when it crossed.
            gate.persistBlocking()
            assertEquals(0L, gate.invalidEvents - refused)
        }
    }

    @Test
    fun a_rule_the_core_does_not_export_is_still_enforced_when_the_event_crosses(): Unit = Fixtures.open().use { gate ->
        // The core also refuses the key its JSON library reserves for raw
        // values. CaptureRules does not carry it, so recordEvent cannot see it
        // (and keeps no copy of it): the core refuses the event when the
        // buffer crosses, and it is counted, not lost silently.
        gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER)
        val raw = mapOf("\$serde_json::private::RawValue" to "x")
        assertIs<GateException.InvalidArgument>(runCatching { gate.recordEventNowBlocking("e", raw) }.exceptionOrNull())
        assertEquals(QUEUED, gate.recordEvent("e", raw))
        assertEquals(0L, gate.invalidEvents)
        assertEquals(0L, gate.queueStatsBlocking().events)
        assertEquals(1L, gate.invalidEvents, "the crossing did not count the refused event")
    }
}
