package dev.consentgate

import org.junit.After
import org.junit.Test
import java.io.File
import java.util.Collections
import java.util.logging.Handler
import java.util.logging.Level
import java.util.logging.LogRecord
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** Opening, closing, native threads and the log bridge. */
class LifecycleTest {
    private fun nativeThreads(): Int = File("/proc/self/task").list()!!.size
    private fun openFiles(): Int = File("/proc/self/fd").list()!!.size

    @After
    fun quietLogs() {
        ConsentGateLogging.forwardTo(LogLevel.ERROR) { _, _, _ -> }
    }

    @Test
    fun open_and_close_200_times_leaks_no_thread_or_file() {
        // Warm up: JNA, the cleaner thread and the coroutine machinery start once.
        repeat(3) { Fixtures.open().use { it.acceptAllBlocking(ConsentSource.BANNER) } }
        val threadsBefore = nativeThreads()
        val filesBefore = openFiles()
        repeat(200) { i ->
            Fixtures.open().use { gate ->
                if (i % 2 == 0) gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
                gate.recordEvent("opened", mapOf("i" to i))
            }
        }
        // Each open starts one writer thread, joined by close: none may be left.
        val threadsAfter = nativeThreads()
        assertTrue(threadsAfter <= threadsBefore + 2, "threads grew from $threadsBefore to $threadsAfter")
        val filesAfter = openFiles()
        assertTrue(filesAfter <= filesBefore + 4, "open files grew from $filesBefore to $filesAfter")
    }

    @Test
    fun a_gate_the_app_forgets_to_close_is_freed_by_the_collector() {
        repeat(3) { Fixtures.open().close() }
        val before = nativeThreads()
        repeat(20) { Fixtures.open().acceptAllBlocking(ConsentSource.BANNER) } // never closed
        val deadline = System.currentTimeMillis() + 20_000
        while (nativeThreads() > before + 2 && System.currentTimeMillis() < deadline) {
            System.gc()
            Thread.sleep(50)
        }
        assertTrue(nativeThreads() <= before + 2, "forgotten gates kept ${nativeThreads() - before} threads alive")
    }

    @Test
    fun logger_bridge_receives_lines_without_personal_data() {
        val lines = Collections.synchronizedList(ArrayList<Triple<LogLevel, String, String>>())
        ConsentGateLogging.forwardTo(LogLevel.DEBUG) { level, target, message -> lines += Triple(level, target, message) }
        Fixtures.open().use { gate ->
            gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
            gate.setUserIdBlocking("secret-user-7781")
            gate.recordEvent("purchase", mapOf("card" to "4111-1111-secret"))
            gate.persistBlocking()
        }
        assertTrue(lines.any { it.first == LogLevel.INFO && "opened policy" in it.third }, lines.toString())
        assertTrue(lines.all { it.second.startsWith("consentgate") })
        val leaked = lines.filter { "secret" in it.third || "purchase" in it.third }
        assertEquals(emptyList(), leaked, "payloads or identifiers reached the log above trace")
    }

    @Test
    fun logger_bridge_forwards_to_java_util_logging() {
        val records = Collections.synchronizedList(ArrayList<LogRecord>())
        val jul = java.util.logging.Logger.getLogger("dev.consentgate.test")
        jul.useParentHandlers = false
        jul.level = Level.ALL
        jul.addHandler(object : Handler() {
            override fun publish(record: LogRecord) {
                records += record
            }
            override fun flush() {}
            override fun close() {}
        })
        ConsentGateLogging.forwardToJavaLogging(LogLevel.INFO, jul)
        Fixtures.open().close()
        assertTrue(records.any { it.level == Level.INFO && "opened policy" in it.message }, records.map { it.message }.toString())
        assertTrue(records.none { it.level.intValue() < Level.INFO.intValue() }, "lines below the chosen level arrived")
    }

    @Test
    fun a_throwing_log_sink_does_not_break_the_gate() {
        ConsentGateLogging.forwardTo(LogLevel.TRACE) { _, _, _ -> throw IllegalStateException("sink down") }
        Fixtures.open().use { gate ->
            gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
            assertEquals(QUEUED, gate.recordEvent("still_works"))
            gate.persistBlocking()
            assertEquals(1L, gate.queueStatsBlocking().events)
        }
    }
}
