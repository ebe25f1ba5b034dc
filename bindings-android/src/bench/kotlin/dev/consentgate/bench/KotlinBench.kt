// The Kotlin/JNA figures of SPEC §9, measured through the Kotlin API on a
// plain JVM: warm-up, then many iterations. Run by
// `bindings-android/jvm-test.sh --bench` (or CONSENTGATE_BENCH=1) against the
// release build of the core; writes target/consentgate-kotlin-bench.json,
// which `cargo run --release -p consentgate-bench -- --json` includes.
package dev.consentgate.bench

import dev.consentgate.ConsentGate
import dev.consentgate.ConsentGateConfig
import dev.consentgate.Event
import dev.consentgate.ConsentSource
import dev.consentgate.RecordResult
import java.io.File
import java.lang.management.ManagementFactory
import java.nio.file.Files
import java.util.Locale
import java.util.concurrent.locks.LockSupport

private const val ALLOWS_CALLS = 20_000_000
private const val EVENT_ROUNDS = 5
private const val EVENTS_PER_ROUND = 100_000

/**
 * Warm-up rounds of EVENTS_PER_ROUND calls. With the crossing thread and the
 * core's writer busy on the other core, the JIT needs about 700,000 calls to
 * settle (after 300,000 the p99 was still ≈ 2 µs, after 800,000 ≈ 0.3 µs).
 */
private const val WARM_ROUNDS = 10
private const val BATCH_CALLS = 5_000

/** Keeps results alive so the JIT cannot remove the measured calls. */
@Volatile
private var sink = 0L

/** Events offered to `recordEvent`/`recordEvents` in the whole run (warm-ups included). */
private var offered = 0L

private fun loadAverage(): Double =
    runCatching { File("/proc/loadavg").readText().trim().split(" ")[0].toDouble() }
        .getOrElse { ManagementFactory.getOperatingSystemMXBean().systemLoadAverage }

private fun fmt(x: Double) = String.format(Locale.ROOT, "%.4f", x)

/** µs per `allows` call. */
private fun allows(gate: ConsentGate, calls: Int): Double {
    var hits = 0L
    val t0 = System.nanoTime()
    for (i in 0 until calls) if (gate.allows("usage_events")) hits++
    val ns = System.nanoTime() - t0
    sink += hits
    return ns / 1_000.0 / calls
}

/**
 * `recordEvent("screen_view", mapOf("screen" to "home"))`, caller side: the
 * map is built per call, as an app does. Fills `samples` (ns per call) and
 * returns the wall time of the loop in ns.
 */
private fun recordEvent(gate: ConsentGate, samples: LongArray): Long {
    var queued = 0L
    val t0 = System.nanoTime()
    var last = t0
    for (i in samples.indices) {
        if (gate.recordEvent("screen_view", mapOf("screen" to "home")) === RecordResult.Queued) queued++
        val now = System.nanoTime()
        samples[i] = now - last
        last = now
    }
    sink += queued
    offered += samples.size
    check(queued == samples.size.toLong()) { "events were dropped: is analytics granted?" }
    return last - t0
}

/** µs per `recordEvents` call of `batch`. */
private fun recordEvents(gate: ConsentGate, batch: List<Event>, calls: Int): Double {
    var queued = 0L
    val t0 = System.nanoTime()
    repeat(calls) { if (gate.recordEvents(batch) === RecordResult.Queued) queued += batch.size }
    val ns = System.nanoTime() - t0
    sink += queued
    offered += queued
    return ns / 1_000.0 / calls
}

private fun percentile(sorted: LongArray, p: Double): Double =
    sorted[((sorted.size - 1) * p).toInt()] / 1_000.0

fun main(args: Array<String>) {
    val policy = File(args.getOrElse(0) { "examples/policies/example-kz.json" }).readText()
    val out = File(args.getOrElse(1) { "target/consentgate-kotlin-bench.json" })
    val dir = Files.createTempDirectory("consentgate-kotlin-bench").toFile()
    val loadBefore = loadAverage()
    val config = ConsentGateConfig(dataDir = dir, policyJson = policy, appVersion = "bench", region = "KZ")
    val figures = LinkedHashMap<String, Double>()
    // Cold start first, while this JVM is idle: each child is a fresh JVM.
    figures += coldStartFigures(File(args.getOrElse(0) { "examples/policies/example-kz.json" }))
    ConsentGate.openBlocking(config).use { gate ->
        gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
        check(gate.allows("usage_events"))

        // allows: warm-up, then five rounds; the median round.
        repeat(3) { allows(gate, ALLOWS_CALLS / 4) }
        figures["kotlin_allows_us"] = List(5) { allows(gate, ALLOWS_CALLS) }.sorted()[2]

        // recordEvent: warm-up, then EVENT_ROUNDS × EVENTS_PER_ROUND calls in a
        // row (background crossings and the core's writer run meanwhile, as in
        // an app). Mean over every call, p50/p99 of the per-call samples.
        // The loop offers more events than the pipeline takes: the buffer
        // fills and evicts its oldest events (counted, G8) instead of making
        // the caller cross, so these are the caller's cost; how many were
        // evicted on the Kotlin side is reported beside them.
        val warm = LongArray(EVENTS_PER_ROUND)
        repeat(WARM_ROUNDS) { recordEvent(gate, warm) }
        gate.persistBlocking()
        val samples = LongArray(EVENT_ROUNDS * EVENTS_PER_ROUND)
        var wallNs = 0L
        val round = LongArray(EVENTS_PER_ROUND)
        var evictedBefore = gate.evictedEvents
        for (r in 0 until EVENT_ROUNDS) {
            wallNs += recordEvent(gate, round)
            round.copyInto(samples, r * EVENTS_PER_ROUND)
        }
        samples.sort()
        figures["kotlin_record_event_us"] = wallNs / 1_000.0 / samples.size
        figures["kotlin_record_event_p50_us"] = percentile(samples, 0.50)
        figures["kotlin_record_event_p99_us"] = percentile(samples, 0.99)
        gate.persistBlocking()
        figures["kotlin_record_event_evicted_share"] = (gate.evictedEvents - evictedBefore).toDouble() / samples.size

        // recordEvent at a pace the pipeline sustains: bursts of 100 calls, one
        // burst per ms (100,000 events/s offered).
        val pacedOne = LongArray(200_000)
        var k = 0
        evictedBefore = gate.evictedEvents
        while (k < pacedOne.size) {
            val burst = System.nanoTime()
            var last = burst
            repeat(100) {
                gate.recordEvent("screen_view", mapOf("screen" to "home"))
                val now = System.nanoTime()
                pacedOne[k++] = now - last
                last = now
            }
            LockSupport.parkNanos(1_000_000 - (last - burst))
        }
        offered += pacedOne.size
        figures["kotlin_record_event_paced_us"] = pacedOne.average() / 1_000.0
        pacedOne.sort()
        figures["kotlin_record_event_paced_p99_us"] = percentile(pacedOne, 0.99)
        gate.persistBlocking()
        figures["kotlin_record_event_paced_evicted_share"] = (gate.evictedEvents - evictedBefore).toDouble() / pacedOne.size

        // recordEvents of 100 distinct events (properties encoded per call),
        // BATCH_CALLS calls in a row; the median of three runs.
        val batch = List(100) { Event("item_viewed", mapOf("item" to "sku-$it", "position" to it)) }
        recordEvents(gate, batch, 2 * BATCH_CALLS)
        gate.persistBlocking()
        evictedBefore = gate.evictedEvents
        figures["kotlin_record_events_100_us"] = List(3) { recordEvents(gate, batch, BATCH_CALLS) }.sorted()[1]
        gate.persistBlocking()
        figures["kotlin_record_events_100_evicted_share"] =
            (gate.evictedEvents - evictedBefore).toDouble() / (3L * BATCH_CALLS * batch.size)

        // The same call at a pace the pipeline sustains (one call per ms:
        // 100,000 events/s offered, far above what an app records).
        val paced = LongArray(2_000)
        evictedBefore = gate.evictedEvents
        for (i in paced.indices) {
            val t0 = System.nanoTime()
            sink += if (gate.recordEvents(batch) === RecordResult.Queued) batch.size else 0
            val t1 = System.nanoTime()
            paced[i] = t1 - t0
            LockSupport.parkNanos(1_000_000 - (t1 - t0))
        }
        offered += paced.size.toLong() * batch.size
        figures["kotlin_record_events_100_paced_us"] = paced.average() / 1_000.0
        paced.sort()
        figures["kotlin_record_events_100_paced_p99_us"] = percentile(paced, 0.99)
        gate.persistBlocking()
        figures["kotlin_record_events_100_paced_evicted_share"] =
            (gate.evictedEvents - evictedBefore).toDouble() / (paced.size.toLong() * batch.size)

        // Sustained: recorded events handed to the core's queue per second,
        // crossings included, with a producer that never waits. Events the
        // buffer evicted meanwhile were not handed over and do not count.
        evictedBefore = gate.evictedEvents
        val t0 = System.nanoTime()
        repeat(2_000) { gate.recordEvents(batch) }
        gate.queueStatsBlocking() // crosses what is left
        val handed = 200_000 - (gate.evictedEvents - evictedBefore)
        figures["kotlin_sustained_events_per_s"] = handed / ((System.nanoTime() - t0) / 1e9)
        offered += 200_000
        check(gate.invalidEvents == 0L)

        // Every event offered is queued, evicted (by the Kotlin buffer, or by
        // the core beyond the policy's max_queue_events of 20,000) or
        // dropped: nothing is silent.
        gate.persistBlocking()
        val stats = gate.queueStatsBlocking()
        check(stats.droppedNoConsent == 0L)
        check(stats.events + stats.evicted == offered) {
            "${stats.events} queued + ${stats.evicted} evicted != $offered offered"
        }
        figures["kotlin_bench_recorded"] = offered.toDouble()
        figures["kotlin_bench_evicted"] = stats.evicted.toDouble()
        figures["kotlin_bench_host_evicted"] = gate.evictedEvents.toDouble()
        figures["kotlin_bench_queued_at_end"] = stats.events.toDouble()
    }
    dir.deleteRecursively()
    // The 1-minute load average of the machine (2 shared cores here) before
    // and after: the figures above depend on it.
    figures["kotlin_bench_loadavg_start"] = loadBefore
    figures["kotlin_bench_loadavg_end"] = loadAverage()

    out.parentFile?.mkdirs()
    val json = figures.entries.joinToString(",\n", "{\n", "\n}\n") { (k, v) -> "  \"$k\": ${fmt(v)}" }
    out.writeText(json)
    println("Kotlin API through JNA (${System.getProperty("java.vm.name")} ${System.getProperty("java.version")}):")
    figures.forEach { (k, v) -> println(String.format(Locale.ROOT, "  %-46s %16.4f", k, v)) }
    println("wrote $out")
}
