// The shared scenarios of tests/scenarios/*.json (format: its README.md)
// played out through the public Kotlin API, dev.consentgate.ConsentGate. The
// Rust suite (tests/tests/scenarios.rs) and the Swift one (ScenariosTests)
// run the same files: a Kotlin layer that drifts from the core — its mirrored
// state, its event buffer, its error mapping, its flush loop — fails here.
package dev.consentgate

import org.junit.Test
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.assertTrue
import kotlin.test.fail

class ScenariosTest {
    @Test
    fun everySharedScenarioReachesTheCoresStatesOutcomesAndQueueFigures() {
        val failures = mutableListOf<String>()
        val scenarios = loadScenarios()
        for ((name, doc) in scenarios) {
            try {
                ScenarioRun(name, doc).run()
                println("scenario $name: ok")
            } catch (e: Exception) {
                val why = if (e is ScenarioFailure) e.message else e.toString()
                println("scenario $name: FAILED: $why")
                failures += "$name: $why"
            }
        }
        println("scenarios: ${scenarios.size - failures.size} passed, ${failures.size} failed")
        if (failures.isNotEmpty()) fail(failures.joinToString("\n"))
    }

    @Test
    fun sharedScenariosCoverEveryGuarantee() {
        val scenarios = loadScenarios()
        assertTrue(scenarios.size >= 12, "only ${scenarios.size} scenarios in tests/scenarios")
        val covered = scenarios.flatMap { (name, doc) ->
            check(doc["name"] == name) { "$name: `name` must be the file name" }
            val gs = doc["guarantees"] as List<*>
            check(gs.isNotEmpty()) { "$name: names no guarantee" }
            gs.map { it as String }
        }.toSet()
        val missing = (1..9).map { "G$it" }.filter { it !in covered }
        assertTrue(missing.isEmpty(), "no scenario proves $missing")
    }

    private fun loadScenarios(): List<Pair<String, Any?>> =
        (scenariosDir.listFiles { f -> f.name.endsWith(".json") } ?: emptyArray())
            .sortedBy { it.name }
            .map { it.name.removeSuffix(".json") to MiniJson.parse(it.readText()) }

    companion object {
        val scenariosDir = File(Fixtures.root, "tests/scenarios")

        /** Where every runner starts the clock: 2026-01-01T00:00:00Z. */
        const val START_MS = 1_767_225_600_000L

        /** How long expectations after `advance_clock` may take to hold. */
        const val SETTLE_MS = 5_000L

        /** Log lines captured since the last `capture_logs` step (debug and above). */
        val logLines = CopyOnWriteArrayList<String>()

        val deviceFields = listOf("os", "os_version", "model", "manufacturer", "locale", "timezone", "carrier", "app_version", "screen")
    }
}

/** A step that did not go as the scenario says. */
class ScenarioFailure(message: String) : Exception(message)

private fun failStep(message: String): Nothing = throw ScenarioFailure(message)

/** What a step's call returned, for the expectations about it. */
private sealed class Done {
    object Nothing : Done()
    class Outcome(val name: String) : Done()
    class Flush(val report: FlushReport, val sent: List<Pair<String, String>>) : Done()
    class Ticket(val ticket: DeletionTicket) : Done()
    class Device(val asked: List<String>, val fields: List<String>) : Done()
    class AdId(val value: String?, val called: Boolean) : Done()
}

/** One scenario on a fresh directory and a manual clock. */
private class ScenarioRun(private val name: String, private val doc: Any?) {
    private val dir = Fixtures.tempDir()
    private val clock = ManualClock(ScenariosTest.START_MS)
    private var gate: ConsentGate? = null
    private val top = obj(doc, "scenario")
    private val policy = top["policy"] as? String ?: failStep("`policy` must be a string")
    private val region = top["region"] as String?

    /** Request ids by the labels of `sent` expectations. */
    private val labels = HashMap<String, String>()

    fun run() {
        knownKeys(top, setOf("name", "guarantees", "proves", "policy", "region", "steps"), "scenario")
        val steps = top["steps"] as? List<*> ?: failStep("`steps` must be an array")
        try {
            steps.forEachIndexed { i, raw ->
                val step = obj(raw, "steps[$i]")
                val action = step["do"] as? String ?: failStep("steps[$i]: `do` must be a string")
                try {
                    step(action, step)
                } catch (e: ScenarioFailure) {
                    failStep("steps[$i] ($action): ${e.message}")
                }
            }
        } finally {
            gate?.close()
        }
    }

    private fun gate(): ConsentGate = gate ?: failStep("no gate is open")

    private fun step(action: String, step: Map<String, Any?>) {
        val args = when (action) {
            "open", "reopen" -> setOf("policy", "region")
            "advance_clock" -> setOf("ms", "days")
            "set_consent" -> setOf("decisions", "source")
            "accept_all", "reject_all" -> setOf("source")
            "set_age" -> setOf("age", "parental_consent")
            "set_platform_signals" -> setOf("att", "limit_ad_tracking", "gpc")
            "record_event" -> setOf("name", "properties", "pad_bytes")
            "record_events" -> setOf("events", "repeat")
            "flush" -> setOf("replies")
            "request_deletion" -> setOf("reason")
            "advertising_id" -> setOf("provider_returns")
            "close", "persist", "check", "collect_device_info", "capture_logs" -> emptySet()
            else -> failStep("unknown action `$action`")
        }
        knownKeys(step, args + setOf("do", "expect"), "step")
        val expect = step["expect"]?.let { obj(it, "expect") } ?: emptyMap()
        knownKeys(
            expect,
            setOf(
                "error", "outcome", "report", "sent", "ticket", "device_fields_asked", "device_fields", "ad_id",
                "ad_id_provider_called", "state", "allows", "queue", "deletions", "ledger", "export", "logs",
            ),
            "expect",
        )
        val result = try {
            Result.success(act(action, step))
        } catch (e: GateException) {
            Result.failure(e)
        }
        val wantError = expect["error"] as String?
        val done = when {
            result.isSuccess && wantError != null -> failStep("expected the error $wantError, but the call succeeded")
            result.isSuccess -> result.getOrThrow()
            else -> {
                val e = result.exceptionOrNull() as GateException
                if (wantError == null) failStep("unexpected error: ${e.message}")
                val got = errorKind(e)
                if (got != wantError) failStep("expected the error $wantError, got $got (${e.message})")
                Done.Nothing
            }
        }
        checkDone(expect, done)
        if (action != "advance_clock") return checkAfter(expect)
        // What time made due (an expiry) the core applies on its own thread.
        val deadline = System.nanoTime() + ScenariosTest.SETTLE_MS * 1_000_000
        while (true) {
            try {
                return checkAfter(expect)
            } catch (e: ScenarioFailure) {
                if (System.nanoTime() > deadline) throw e
                Thread.sleep(10)
            }
        }
    }

    private fun open(step: Map<String, Any?>) {
        val policyName = step["policy"] as String? ?: policy
        val region = if (step.containsKey("region")) step["region"] as String? else region
        val policyJson = File(ScenariosTest.scenariosDir, "policies/$policyName.json").readText()
        val config = ConsentGateConfig(dir, policyJson, appVersion = "1.2.3", region = region, clock = clock)
        val opened = ConsentGate.open(config)
        try {
            opened.awaitLoadedBlocking()
        } catch (e: GateException) {
            opened.close()
            throw e
        }
        // The one before (closed, or this open would have been Busy) goes.
        gate = opened
    }

    private fun source(step: Map<String, Any?>): ConsentSource = when (val s = step["source"] ?: "banner") {
        "banner" -> ConsentSource.BANNER
        "settings" -> ConsentSource.SETTINGS
        "api" -> ConsentSource.API
        else -> failStep("unknown source `$s`")
    }

    private fun act(action: String, step: Map<String, Any?>): Done {
        when (action) {
            "open" -> open(step)
            "close" -> gate?.close() ?: throw GateException.Closed()
            "reopen" -> {
                gate?.close() ?: throw GateException.Closed()
                open(step)
            }
            "advance_clock" -> {
                clock.advanceMs(long(step["ms"] ?: 0.0) + long(step["days"] ?: 0.0) * 86_400_000L)
                ConsentGate.timeChanged()
            }
            "set_consent" -> {
                val decisions = obj(step["decisions"], "decisions").mapValues { (purpose, granted) ->
                    granted as? Boolean ?: failStep("decisions.$purpose must be true or false")
                }
                gate().setConsentBlocking(decisions, source(step))
            }
            "accept_all" -> gate().acceptAllBlocking(source(step))
            "reject_all" -> gate().rejectAllBlocking(source(step))
            "set_age" -> gate().setAgeBlocking(step["age"]?.let { long(it).toInt() }, step["parental_consent"] as Boolean? ?: false)
            "set_platform_signals" -> {
                val att = when (val a = step["att"] ?: "not_applicable") {
                    "not_applicable" -> AttStatus.NOT_APPLICABLE
                    "not_determined" -> AttStatus.NOT_DETERMINED
                    "restricted" -> AttStatus.RESTRICTED
                    "denied" -> AttStatus.DENIED
                    "authorized" -> AttStatus.AUTHORIZED
                    else -> failStep("unknown att `$a`")
                }
                gate().setPlatformSignalsBlocking(
                    PlatformSignals(att, step["limit_ad_tracking"] as Boolean? ?: false, step["gpc"] as Boolean? ?: false),
                )
            }
            "record_event" -> {
                val e = event(step)
                return Done.Outcome(resultName(gate().recordEvent(e.name, e.properties)))
            }
            "record_events" -> {
                val list = step["events"] as? List<*> ?: failStep("`events` must be an array")
                val one = list.map { raw ->
                    val e = obj(raw, "event")
                    knownKeys(e, setOf("name", "properties", "pad_bytes"), "event")
                    event(e)
                }
                val repeat = long(step["repeat"] ?: 1.0).toInt()
                return Done.Outcome(resultName(gate().recordEvents(List(repeat) { one }.flatten())))
            }
            "persist" -> gate().persistBlocking()
            "flush" -> return flush(step)
            "request_deletion" -> return Done.Ticket(gate().requestDeletionBlocking(step["reason"] as String?))
            "collect_device_info" -> {
                val asked = mutableListOf<String>()
                val info = gate().collectDeviceInfoBlocking(FakeDevice(asked))
                val values = listOf(
                    info.os, info.osVersion, info.model, info.manufacturer, info.locale, info.timezone, info.carrier,
                    info.appVersion, info.screen,
                )
                val fields = ScenariosTest.deviceFields.filterIndexed { i, _ -> values[i] != null }
                return Done.Device(asked.toList(), fields)
            }
            "advertising_id" -> {
                var called = false
                val returns = step["provider_returns"] as String?
                val value = gate().advertisingIdBlocking {
                    called = true
                    returns
                }
                return Done.AdId(value, called)
            }
            "capture_logs" -> {
                ScenariosTest.logLines.clear()
                ConsentGateLogging.forwardTo(LogLevel.DEBUG) { level, target, message ->
                    ScenariosTest.logLines += "$level $target: $message"
                }
            }
            "check" -> {}
            else -> failStep("unknown action `$action`")
        }
        return Done.Nothing
    }

    private fun flush(step: Map<String, Any?>): Done {
        val replies = ArrayDeque((step["replies"] as List<*>? ?: emptyList<Any?>()).map(::reply))
        val sent = mutableListOf<Pair<String, String>>()
        var unscripted = false
        val report = gate().flushBlocking(
            { request ->
                val kind = when {
                    request.url.endsWith("/v1/deletion") -> "deletion"
                    request.url.endsWith("/v1/batch") -> "batch"
                    else -> "other"
                }
                sent += kind to request.requestId
                replies.removeFirstOrNull() ?: UploadResult.NetworkError("the scenario scripted no reply for this request")
                    .also { unscripted = true }
            },
            maxWaitMs = 0,
        )
        if (unscripted) failStep("the gate sent more requests than scripted: $sent")
        if (replies.isNotEmpty()) failStep("${replies.size} scripted replies were never used (sent: $sent)")
        return Done.Flush(report, sent)
    }

    private fun checkDone(expect: Map<String, Any?>, done: Done) {
        expect["outcome"]?.let { want ->
            val got = (done as? Done.Outcome ?: failStep("`outcome` is only for record_event(s)")).name
            if (got != want) failStep("outcome: expected $want, got $got")
        }
        if ("report" in expect || "sent" in expect) {
            val flush = done as? Done.Flush ?: failStep("`report` and `sent` are only for flush")
            expect["report"]?.let { want ->
                val r = flush.report
                val got = mapOf(
                    "requests" to r.requests, "batches_delivered" to r.batchesDelivered,
                    "events_delivered" to r.eventsDelivered, "events_rejected" to r.eventsRejected,
                    "retries" to r.retries, "deletions_acknowledged" to r.deletionsAcknowledged,
                    "deletions_failed" to r.deletionsFailed, "waiting" to (r.waitMs != null),
                )
                compareFields("report", want, got)
            }
            expect["sent"]?.let { raw ->
                val want = raw as List<*>
                if (want.size != flush.sent.size) failStep("sent: expected $want, got ${flush.sent}")
                want.zip(flush.sent).forEach { (w, s) ->
                    val (kind, label) = (w as String).split(":", limit = 2).let { it[0] to it.getOrElse(1) { "" } }
                    if (kind != s.first) failStep("sent: expected $want, got ${flush.sent}")
                    if (label.isNotEmpty()) checkLabel(label, s.second)
                }
            }
        }
        expect["ticket"]?.let { want ->
            val t = done as? Done.Ticket ?: failStep("`ticket` is only for request_deletion")
            compareFields("ticket", want, ticketMap(t.ticket))
        }
        if ("device_fields_asked" in expect || "device_fields" in expect) {
            val d = done as? Done.Device ?: failStep("`device_fields…` are only for collect_device_info")
            for ((key, got) in listOf("device_fields_asked" to d.asked, "device_fields" to d.fields)) {
                val want = expect[key] as List<*>? ?: continue
                if (want.map { it as String }.sorted() != got.sorted()) failStep("$key: expected $want, got $got")
            }
        }
        if ("ad_id" in expect || "ad_id_provider_called" in expect) {
            val a = done as? Done.AdId ?: failStep("`ad_id…` are only for advertising_id")
            if ("ad_id" in expect && expect["ad_id"] != a.value) failStep("ad_id: expected ${expect["ad_id"]}, got ${a.value}")
            expect["ad_id_provider_called"]?.let {
                if (it != a.called) failStep("ad_id_provider_called: expected $it, got ${a.called}")
            }
        }
    }

    private fun checkAfter(expect: Map<String, Any?>) {
        expect["state"]?.let { compareFields("state", it, stateMap(gate().state.value)) }
        expect["allows"]?.let { want ->
            for ((category, w) in obj(want, "allows")) {
                val got = gate().allows(category)
                if (w != got) failStep("allows($category): expected $w, got $got")
            }
        }
        expect["queue"]?.let { want ->
            val q = gate().queueStatsBlocking()
            val got = mapOf(
                "events" to q.events, "bytes" to q.bytes, "evicted" to q.evicted,
                "dropped_no_consent" to q.droppedNoConsent, "delivered" to q.delivered, "rejected" to q.rejected,
            )
            compareFields("queue", want, got)
        }
        expect["deletions"]?.let { raw ->
            val want = raw as List<*>
            val got = gate().deletionRequestsBlocking()
            if (want.size != got.size) failStep("deletions: expected ${want.size} tickets, got ${got.size}")
            want.zip(got).forEachIndexed { i, (w, t) -> compareFields("deletions[$i]", w, ticketMap(t)) }
        }
        expect["ledger"]?.let { want ->
            val c = gate().verifyLedgerBlocking()
            compareFields("ledger", want, mapOf("intact" to c.intact, "entries" to c.entries))
        }
        expect["export"]?.let { raw ->
            val text = gate().exportDataBlocking()
            val doc = MiniJson.parse(text)
            (raw as List<*>).forEachIndexed { i, w ->
                try {
                    checkExport(obj(w, "export"), doc, text)
                } catch (e: ScenarioFailure) {
                    failStep("export[$i]: ${e.message}")
                }
            }
        }
        expect["logs"]?.let { raw ->
            val want = obj(raw, "logs")
            knownKeys(want, setOf("min_lines", "omit_text"), "logs")
            val lines = ScenariosTest.logLines.toList()
            val min = long(want["min_lines"] ?: 0.0)
            if (lines.size < min) failStep("logs: expected at least $min lines, got ${lines.size}")
            for (s in want["omit_text"] as List<*>? ?: emptyList<Any?>()) {
                lines.firstOrNull { it.contains(s as String) }?.let { failStep("logs: a line contains \"$s\": $it") }
            }
        }
    }

    /** Within a scenario a label is one request id, and one id has one label. */
    private fun checkLabel(label: String, id: String) {
        val known = labels[label]
        if (known != null) {
            if (known != id) failStep("sent: request `$label` was $known, now $id")
            return
        }
        labels.entries.firstOrNull { it.value == id }?.let { failStep("sent: `$label` is the same request as `${it.key}`") }
        labels[label] = id
    }
}

private fun event(e: Map<String, Any?>): Event {
    val name = e["name"] as? String ?: failStep("`name` must be a string")
    val props = LinkedHashMap<String, Any?>()
    e["properties"]?.let { props.putAll(obj(kotlinValue(obj(it, "properties")), "properties")) }
    e["pad_bytes"]?.let { props["pad"] = "x".repeat(long(it).toInt()) }
    return Event(name, props)
}

/** The parsed JSON as the values an app passes: whole numbers as Long. */
private fun kotlinValue(v: Any?): Any? = when (v) {
    is Double -> if (v == Math.floor(v) && !v.isInfinite()) v.toLong() else v
    is Map<*, *> -> v.entries.associate { (k, x) -> k as String to kotlinValue(x) }
    is List<*> -> v.map(::kotlinValue)
    else -> v
}

private fun resultName(r: RecordResult): String = when (r) {
    RecordResult.Queued -> "recorded"
    is RecordResult.Dropped -> "dropped"
    is RecordResult.Invalid -> "invalid"
    RecordResult.Held -> "held"
}

private fun reply(raw: Any?): UploadResult {
    val r = obj(raw, "reply")
    knownKeys(r, setOf("status", "retry_after_s", "body", "network_error"), "reply")
    (r["network_error"] as String?)?.let { return UploadResult.NetworkError(it) }
    val status = r["status"] ?: failStep("a reply needs `status` or `network_error`")
    return UploadResult.Http(long(status).toInt(), r["retry_after_s"]?.let(::long), r["body"] as String?)
}

private fun errorKind(e: GateException): String = when (e) {
    is GateException.InvalidPolicy -> "invalid_policy"
    is GateException.InvalidArgument -> "invalid_argument"
    is GateException.UnknownPurpose -> "unknown_purpose"
    is GateException.AgeRestricted -> "age_restricted"
    is GateException.NotWithdrawable -> "not_withdrawable"
    is GateException.GpcRestricted -> "gpc_restricted"
    is GateException.Storage -> "storage"
    is GateException.Closed -> "closed"
    is GateException.Busy -> "busy"
    is GateException.Internal -> "internal"
}

private fun stateMap(s: ConsentState): Map<String, Any?> = mapOf(
    "revision" to s.revision,
    "needs_prompt" to s.needsPrompt,
    "prompt_reasons" to s.promptReasons.map { it.name.lowercase() },
    "purposes" to s.purposes.associate { it.id to it.status.name.lowercase() },
    "sources" to s.purposes.associate { it.id to it.source?.name?.lowercase() },
    "allowed" to s.allowedCategories,
    "age_restricted" to s.ageRestricted,
    "gpc" to s.gpc,
)

private fun ticketMap(t: DeletionTicket): Map<String, Any?> {
    val status = t.status
    return mapOf(
        "status" to when (status) {
            DeletionStatus.Pending -> "pending"
            is DeletionStatus.Acknowledged -> "acknowledged"
            is DeletionStatus.Failed -> "failed"
        },
        "receipt_id" to (status as? DeletionStatus.Acknowledged)?.receiptId,
        "receipt_status" to (status as? DeletionStatus.Acknowledged)?.status,
        "http_status" to (status as? DeletionStatus.Failed)?.status,
        "reason" to t.reason,
        "installation_ids" to t.installationIds.size,
        "endpoints" to t.endpoints.size,
    )
}

/** Every field of `want` must be in `got` with the same value; nested maps compare the keys named. */
private fun compareFields(what: String, want: Any?, got: Map<String, Any?>) {
    for ((k, w) in obj(want, what)) {
        if (k !in got) failStep("$what: there is no field `$k` to expect")
        val g = got[k]
        if (w is Map<*, *> && g is Map<*, *>) {
            for ((sub, wv) in w) {
                if (sub !in g) failStep("$what.$k: no `$sub`")
                if (!same(wv, g[sub])) failStep("$what.$k.$sub: expected $wv, got ${g[sub]}")
            }
        } else if (!same(w, g)) {
            failStep("$what.$k: expected $w, got $g")
        }
    }
}

/** JSON equality with numbers compared as numbers (1 == 1L == 1.0). */
private fun same(a: Any?, b: Any?): Boolean = when {
    a is Number && b is Number -> a.toDouble() == b.toDouble()
    a is List<*> && b is List<*> -> a.size == b.size && a.indices.all { same(a[it], b[it]) }
    else -> a == b
}

private fun checkExport(w: Map<String, Any?>, doc: Any?, text: String) {
    knownKeys(w, setOf("path", "equals", "length", "absent", "contains_text", "omits_text"), "export")
    (w["contains_text"] as String?)?.let { if (!text.contains(it)) failStep("the export does not contain \"$it\"") }
    (w["omits_text"] as String?)?.let { if (text.contains(it)) failStep("the export contains \"$it\"") }
    val path = w["path"] as String? ?: return
    var at: Any? = doc
    for (seg in path.split('.').filter { it.isNotEmpty() }) {
        at = when (at) {
            is List<*> -> seg.toIntOrNull()?.let { at.getOrNull(it) }
            is Map<*, *> -> at[seg]
            else -> null
        }
    }
    (w["absent"] as Boolean?)?.let { if (it != (at == null)) failStep("$path: expected absent=$it, found $at") }
    if ("equals" in w && (at == null || !same(w["equals"], at))) failStep("$path: expected ${w["equals"]}, found $at")
    w["length"]?.let { want ->
        val len = when (at) {
            is List<*> -> at.size
            is Map<*, *> -> at.size
            else -> failStep("$path: expected $want items, found $at")
        }
        if (!same(want, len)) failStep("$path: expected $want items, found $len")
    }
}

@Suppress("UNCHECKED_CAST")
private fun obj(v: Any?, what: String): Map<String, Any?> = v as? Map<String, Any?> ?: failStep("`$what` must be an object")

private fun long(v: Any?): Long = (v as? Number)?.toLong() ?: failStep("expected a number, got $v")

/** A key the runner does not know is a typo that would make an expectation vacuous: refuse it. */
private fun knownKeys(m: Map<String, Any?>, known: Set<String>, what: String) {
    m.keys.firstOrNull { it !in known }?.let { failStep("unknown key `$it` in $what (known: $known)") }
}

/** Answers `scenario-<field>` for every field and notes what it was asked. */
private class FakeDevice(private val asked: MutableList<String>) : DeviceInfoProvider {
    private fun answer(field: String): String {
        synchronized(asked) { asked += field }
        return "scenario-$field"
    }

    override fun os() = answer("os")
    override fun osVersion() = answer("os_version")
    override fun model() = answer("model")
    override fun manufacturer() = answer("manufacturer")
    override fun locale() = answer("locale")
    override fun timezone() = answer("timezone")
    override fun carrier() = answer("carrier")
    override fun appVersion() = answer("app_version")
    override fun screen() = answer("screen")
}
