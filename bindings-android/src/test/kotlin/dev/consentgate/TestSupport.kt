package dev.consentgate

import java.io.File
import java.nio.file.Files
import java.util.concurrent.atomic.AtomicLong

/** Shared fixtures: the example policy, temp data dirs, a manual clock, a tiny JSON reader. */
object Fixtures {
    /** The workspace root, passed by jvm-test.sh; falls back to the working directory's parents. */
    val root: File by lazy {
        System.getProperty("consentgate.root")?.let(::File)
            ?: generateSequence(File("").absoluteFile) { it.parentFile }
                .first { File(it, "examples/policies/example-kz.json").isFile }
    }

    /** examples/policies/example-kz.json: purposes service, analytics, advertising, cross_border_transfer. */
    val policy: String by lazy { File(root, "examples/policies/example-kz.json").readText() }

    private val created = java.util.concurrent.ConcurrentLinkedQueue<File>()

    init {
        // Hundreds of data directories per run: remove them when the JVM exits.
        Runtime.getRuntime().addShutdownHook(Thread { created.forEach { it.deleteRecursively() } })
    }

    fun tempDir(): File = Files.createTempDirectory("consentgate-test").toFile().also { created += it }

    /**
     * A data directory in memory (/dev/shm) when there is one: for tests that
     * change consent thousands of times and are about ordering, not about
     * fsync reaching a disk.
     */
    fun memoryDir(): File {
        val shm = File("/dev/shm")
        if (!shm.isDirectory || !shm.canWrite()) return tempDir()
        return Files.createTempDirectory(shm.toPath(), "consentgate-test").toFile().also { created += it }
    }

    fun config(dir: File = tempDir(), policyJson: String = policy, clock: Clock? = null, bufferWindowMs: Long = 200) =
        ConsentGateConfig(
            dataDir = dir, policyJson = policyJson, appVersion = "1.2.3", region = "KZ", clock = clock,
            bufferWindowMs = bufferWindowMs,
        )

    /**
     * Opens a gate the way an app does (non-blocking `open`) and waits until
     * it has loaded, so a test starts from the loaded state.
     */
    fun open(dir: File = tempDir(), policyJson: String = policy, clock: Clock? = null, bufferWindowMs: Long = 200): ConsentGate =
        ConsentGate.open(config(dir, policyJson, clock, bufferWindowMs)).also { it.awaitLoadedBlocking() }

    /** A window long enough that recorded events stay on the Kotlin side until something crosses them. */
    const val HOLD_MS = 600_000L

    /** The example policy with other queue and batch bounds (`limits`, SPEC §3). */
    fun policyWithLimits(
        maxQueueEvents: Long = 20_000,
        maxQueueBytes: Long = 20_971_520,
        maxBatchEvents: Long = 500,
        maxBatchBytes: Long = 262_144,
    ): String {
        val limits = Regex("\"limits\": \\{[^}]*\\}")
        check(limits.containsMatchIn(policy)) { "the example policy has no limits object" }
        return policy.replace(
            limits,
            "\"limits\": {\"max_batch_events\": $maxBatchEvents, \"max_batch_bytes\": $maxBatchBytes, " +
                "\"max_queue_events\": $maxQueueEvents, \"max_queue_bytes\": $maxQueueBytes, " +
                "\"event_ttl_days\": 30, \"ledger_retention_days\": 1095}",
        )
    }
}

/** What `recordEvent` returns for a queued event. */
val QUEUED: RecordResult = RecordResult.Queued

/** What `recordEvent` returns without `usage_events` consent. */
val NO_CONSENT: RecordResult = RecordResult.Dropped(DropReason.NO_CONSENT)

/** A clock that moves only when told to. */
class ManualClock(start: Long = 1_763_779_519_000L) : Clock {
    private val now = AtomicLong(start)
    override fun nowMs(): Long = now.get()
    fun advanceDays(days: Long) {
        now.addAndGet(days * 86_400_000L)
    }
    fun advanceMs(ms: Long) {
        now.addAndGet(ms)
    }
}

/**
 * A small JSON reader for assertions (no JSON library is available here):
 * objects become maps, arrays lists, numbers Double, and so on.
 */
object MiniJson {
    fun parse(text: String): Any? {
        val p = Parser(text)
        val v = p.value()
        p.skipWs()
        check(p.i == text.length) { "trailing text at ${p.i}" }
        return v
    }

    private class Parser(val s: String) {
        var i = 0

        fun skipWs() {
            while (i < s.length && s[i].isWhitespace()) i++
        }

        fun value(): Any? {
            skipWs()
            check(i < s.length) { "unexpected end" }
            return when (val c = s[i]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> lit("true", true)
                'f' -> lit("false", false)
                'n' -> lit("null", null)
                else -> if (c == '-' || c.isDigit()) num() else error("unexpected '$c' at $i")
            }
        }

        fun lit(word: String, v: Any?): Any? {
            check(s.startsWith(word, i)) { "bad literal at $i" }
            i += word.length
            return v
        }

        fun num(): Double {
            val start = i
            while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
            return s.substring(start, i).toDouble()
        }

        fun str(): String {
            val b = StringBuilder()
            i++ // opening quote
            while (true) {
                check(i < s.length) { "unterminated string" }
                val c = s[i++]
                when (c) {
                    '"' -> return b.toString()
                    '\\' -> {
                        val e = s[i++]
                        when (e) {
                            'n' -> b.append('\n')
                            't' -> b.append('\t')
                            'r' -> b.append('\r')
                            'b' -> b.append('\b')
                            'f' -> b.append('\u000c')
                            'u' -> {
                                b.append(s.substring(i, i + 4).toInt(16).toChar())
                                i += 4
                            }
                            else -> b.append(e)
                        }
                    }
                    else -> {
                        check(c >= ' ') { "raw control character in string at ${i - 1}" }
                        b.append(c)
                    }
                }
            }
        }

        fun obj(): Map<String, Any?> {
            val m = LinkedHashMap<String, Any?>()
            i++
            skipWs()
            if (s[i] == '}') {
                i++
                return m
            }
            while (true) {
                skipWs()
                check(s[i] == '"') { "expected a key at $i" }
                val k = str()
                skipWs()
                check(s[i++] == ':') { "expected ':' at ${i - 1}" }
                m[k] = value()
                skipWs()
                when (s[i++]) {
                    ',' -> continue
                    '}' -> return m
                    else -> error("expected ',' or '}' at ${i - 1}")
                }
            }
        }

        fun arr(): List<Any?> {
            val l = ArrayList<Any?>()
            i++
            skipWs()
            if (s[i] == ']') {
                i++
                return l
            }
            while (true) {
                l += value()
                skipWs()
                when (s[i++]) {
                    ',' -> continue
                    ']' -> return l
                    else -> error("expected ',' or ']' at ${i - 1}")
                }
            }
        }
    }
}

/** `doc["a"]["b"]` for parsed JSON. */
@Suppress("UNCHECKED_CAST")
operator fun Any?.get(key: String): Any? = (this as Map<String, Any?>)[key]

@Suppress("UNCHECKED_CAST")
operator fun Any?.get(index: Int): Any? = (this as List<Any?>)[index]
