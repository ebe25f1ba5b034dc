// A walk through consentgate's Kotlin API on a plain JVM: the same calls an
// Android app makes, with the Rust core loaded through JNA. Run it with
// examples/jvm-demo/run.sh.
package dev.consentgate.demo

import dev.consentgate.ConsentGate
import dev.consentgate.ConsentGateConfig
import dev.consentgate.ConsentGateLogging
import dev.consentgate.ConsentSource
import dev.consentgate.DeviceInfoProvider
import dev.consentgate.Event
import dev.consentgate.GateException
import dev.consentgate.LogLevel
import dev.consentgate.RecordOutcome
import dev.consentgate.RecordResult
import kotlinx.coroutines.runBlocking
import java.io.File
import java.nio.file.Files

private val categories = listOf("device_info", "advertising_id", "usage_events", "account_id")

private fun step(text: String) = println("\n== $text")

private fun describe(outcome: RecordOutcome): String = when (outcome) {
    is RecordOutcome.Recorded -> "recorded as #${outcome.seq}"
    is RecordOutcome.Dropped -> "dropped (${outcome.reason.name.lowercase()})"
}

private fun describe(result: RecordResult): String = when (result) {
    RecordResult.Queued -> "queued"
    RecordResult.Held -> "held until the stored decisions are known"
    is RecordResult.Dropped -> "dropped (${result.reason.name.lowercase()})"
    is RecordResult.Invalid -> "refused: ${result.reason}"
}

/** A device provider that says which fields the core asked for. */
private class DemoDevice : DeviceInfoProvider {
    val asked = mutableListOf<String>()
    private fun answer(field: String, value: String) = value.also { asked += field }
    override fun os() = answer("os", "Android")
    override fun osVersion() = answer("os_version", "14")
    override fun model() = answer("model", "Pixel 8")
    override fun manufacturer() = answer("manufacturer", "Google")
    override fun locale() = answer("locale", "kk-KZ")
    override fun timezone() = answer("timezone", "Asia/Almaty")
    override fun carrier() = answer("carrier", "Beeline KZ")
    override fun appVersion() = answer("app_version", "1.0.0")
    override fun screen() = answer("screen", "1080x2400")
}

fun main(args: Array<String>): Unit = runBlocking {
    val policyFile = File(args.firstOrNull() ?: "examples/policies/example-kz.json")
    val dataDir = Files.createTempDirectory("consentgate-demo").toFile()
    // The core's own log lines (never payloads or identifiers), shown inline.
    ConsentGateLogging.forwardTo(LogLevel.INFO) { level, _, message -> println("   [core ${level.name.lowercase()}] $message") }

    step("Opening a consent gate in $dataDir with ${policyFile.name}")
    val config = ConsentGateConfig(dataDir = dataDir, policyJson = policyFile.readText(), appVersion = "1.0.0", region = "KZ")
    val t0 = System.nanoTime()
    val gate = ConsentGate.open(config)
    println(
        "open returned after ${"%.2f".format((System.nanoTime() - t0) / 1e6)} ms (the first call in this JVM: " +
            "mostly loading the API's classes); the core opens in the background.",
    )
    println("Loading: ${gate.state.value.isLoading}; allows(usage_events) = ${gate.allows("usage_events")} (fail-closed).")
    println("Recording \"app_start\" right away: ${describe(gate.recordEvent("app_start"))}.")
    gate.use {
        val state = gate.awaitLoaded()
        println("Loaded policy ${state.policyId}, revision ${state.revision}.")

        step("A fresh install allows nothing (fail-closed)")
        categories.forEach { println("  allows($it) = ${gate.allows(it)}") }
        println("Show the banner? ${if (state.needsPrompt) "yes" else "no"} (${state.promptReasons.joinToString { it.name.lowercase() }})")
        println("Recording \"app_open\": ${describe(gate.recordEvent("app_open"))}.")
        val device = DemoDevice()
        gate.collectDeviceInfo(device)
        println("Device fields read before consent: ${device.asked.ifEmpty { listOf("none") }.joinToString()}.")
        println(
            "Dropped for lack of consent so far: ${gate.queueStats().droppedNoConsent} " +
                "(\"app_start\", judged by the stored decisions once loaded: none; and \"app_open\").",
        )

        step("The user grants analytics on the banner")
        gate.setConsent(mapOf("analytics" to true), source = ConsentSource.BANNER)
        println("Allowed now: ${gate.state.value.allowedCategories.joinToString()}.")
        println("Advertising id still blocked: allows(advertising_id) = ${gate.allows("advertising_id")}.")

        step("Recording events")
        // recordEvent is fire-and-forget: a few microseconds, no JNA call. It
        // checks the event with the core's rules at once; the event waits in
        // a Kotlin buffer that crosses to the core in batches.
        println("\"screen_view\" with properties: ${describe(gate.recordEvent("screen_view", mapOf("screen" to "home", "tab" to 2)))}.")
        val batch = gate.recordEvents(listOf(Event("item_viewed", mapOf("id" to "a1")), Event("item_viewed", mapOf("id" to "b2"))))
        println("Two more in one call: ${describe(batch)}; ${gate.bufferedEvents} events wait on the Kotlin side.")
        println("A bad name: ${describe(gate.recordEvent("9 lives"))}.")
        println("Properties of 20 KB: ${describe(gate.recordEvent("upload", mapOf("blob" to "x".repeat(20_000))))}.")
        // recordEventNow crosses at once and answers with the core's outcome
        // (or its typed error).
        println("\"purchase\" synchronously: ${describe(gate.recordEventNow("purchase", mapOf("amount" to 4990)))}.")
        try {
            gate.recordEventNow("9 lives")
        } catch (e: GateException.InvalidArgument) {
            println("A bad name, synchronously: ${e.message}.")
        }
        gate.collectDeviceInfo(device)
        println("Device fields read with analytics granted: ${device.asked.joinToString()}.")
        gate.persist()
        val queued = gate.queueStats()
        println(
            "Queue: ${queued.events} events, ${queued.bytes} bytes; ${queued.droppedNoConsent} dropped for lack of consent, " +
                "${queued.evicted} evicted (oldest first, only when a bound of the policy is reached).",
        )
        println("(queueStats hands the Kotlin buffer to the core first: ${gate.bufferedEvents} left waiting.)")

        step("The user withdraws analytics in settings")
        gate.setConsent(mapOf("analytics" to false), source = ConsentSource.SETTINGS)
        val after = gate.queueStats()
        println("Queue after withdrawal: ${after.events} events (purged in the same transaction as the ledger entry).")
        println("Recording \"tap\" now: ${describe(gate.recordEvent("tap"))}.")

        step("The consent ledger")
        gate.ledger().forEach {
            println("  #${it.seq} ${it.purpose} ${it.status.name.lowercase()} via ${it.source.name.lowercase()} (policy revision ${it.revision}, app ${it.appVersion})")
        }
        val check = gate.verifyLedger()
        println("Hash chain of ${check.entries} entries intact: ${if (check.intact) "yes" else "no, first bad entry #${check.firstBadSeq}"}.")

        step("The user asks to be forgotten")
        val before = gate.installationId()
        val ticket = gate.requestDeletion("user_request")
        println("Deletion request ${ticket.requestId}: ${ticket.status}, sent before anything else at the next flush.")
        println("Installation id rotated: ${before != gate.installationId()}.")

        step("Export (the user's copy of everything stored)")
        println("${gate.exportData().length} characters of JSON.")
    }
    println("\nClosed: buffered records committed, the core's writer thread stopped, the directory released.")
    dataDir.deleteRecursively()
}
