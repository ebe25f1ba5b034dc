// The cold-start figures of SPEC §9, each measured in a fresh JVM that
// KotlinBench starts (a warm JVM would hide the class loading and the native
// set-up): how long `ConsentGate.open` holds the caller
// (`kotlin_open_main_thread_ms`), the time from the JVM's start to the first
// real `allows()` answer (`kotlin_cold_first_allows_ms`), and where that time
// goes (JVM start, JNA, the library, UniFFI's set-up, the core's open, the
// Kotlin layer), each phase run on its own in a child of its own.
package dev.consentgate.bench

import com.sun.jna.Native
import com.sun.jna.NativeLibrary
import dev.consentgate.ConsentGate
import dev.consentgate.ConsentGateConfig
import dev.consentgate.ConsentSource
import dev.consentgate.ffi.GateConfig
import java.io.File
import java.lang.management.ManagementFactory
import java.util.Locale
import dev.consentgate.ffi.ConsentGate as FfiConsentGate

/** Fresh JVMs per mode; the median run is reported. */
private const val COLD_RUNS = 7

/** Everything a child needs to find the library: the same JVM, classpath and `jna.library.path`. */
private fun childCommand(vararg args: String): List<String> {
    val java = File(System.getProperty("java.home"), "bin/java").path
    val libPath = System.getProperty("jna.library.path") ?: error("run with -Djna.library.path")
    // Passed on when set, to measure what JNA's platform search costs (see the README).
    val platform = System.getProperty("jna.platform.library.path")?.let { listOf("-Djna.platform.library.path=$it") }.orEmpty()
    return listOf(java, "-Djna.library.path=$libPath") + platform +
        listOf("-cp", System.getProperty("java.class.path"), "dev.consentgate.bench.ColdStartKt") + args
}

/**
 * Runs one child and returns its figures: `key=value` lines on its stdout.
 * The start is taken just before the process is spawned; the child reads the
 * same monotonic clock (`System.nanoTime` is CLOCK_MONOTONIC on Linux, one per
 * machine), so "since the JVM started" includes the JVM's own boot.
 */
private fun runChild(mode: String, policy: File, dir: File): Map<String, Double> {
    val start = System.nanoTime()
    val p = ProcessBuilder(childCommand(mode, start.toString(), policy.path, dir.path)).redirectErrorStream(true).start()
    val out = p.inputStream.bufferedReader().readText()
    check(p.waitFor() == 0) { "cold-start child ($mode) failed:\n$out" }
    return out.lines().mapNotNull { line ->
        val i = line.indexOf('=')
        if (line.startsWith("cold.") && i > 0) line.substring(5, i) to line.substring(i + 1).toDouble() else null
    }.toMap()
}

/**
 * The cold-start figures, medians over [COLD_RUNS] fresh JVMs per mode. The
 * data directory holds a stored grant of analytics (an app's second start),
 * so the first real answer is `true`.
 */
internal fun coldStartFigures(policy: File): Map<String, Double> {
    val dir = java.nio.file.Files.createTempDirectory("consentgate-cold").toFile()
    val config = ConsentGateConfig(dataDir = dir, policyJson = policy.readText(), appVersion = "bench", region = "KZ")
    ConsentGate.openBlocking(config).use { it.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER) }
    val figures = LinkedHashMap<String, Double>()
    for (mode in listOf("app", "phases")) {
        val runs = List(COLD_RUNS) { runChild(mode, policy, dir) }
        for (key in runs.first().keys) {
            figures[key] = runs.map { it.getValue(key) }.sorted()[COLD_RUNS / 2]
        }
    }
    dir.deleteRecursively()
    figures["kotlin_open_main_thread_warm_ms"] = warmOpenMs(policy)
    return figures
}

/**
 * How long `open` holds the caller once its classes are loaded (this JVM has
 * opened gates already): the median of 21 opens of fresh directories.
 */
private fun warmOpenMs(policy: File): Double {
    val text = policy.readText()
    val times = List(21) {
        val dir = java.nio.file.Files.createTempDirectory("consentgate-warm").toFile()
        val t0 = System.nanoTime()
        val gate = ConsentGate.open(ConsentGateConfig(dataDir = dir, policyJson = text, appVersion = "bench", region = "KZ"))
        val t1 = System.nanoTime()
        gate.awaitLoadedBlocking()
        gate.close()
        dir.deleteRecursively()
        ms(t0, t1)
    }
    return times.sorted()[times.size / 2]
}

private fun ms(fromNs: Long, toNs: Long) = (toNs - fromNs) / 1e6

private fun emit(key: String, value: Double) = println(String.format(Locale.ROOT, "cold.%s=%.3f", key, value))

/**
 * A child: `app SPAWN_NS POLICY DIR` does what an app does (open, then the
 * first answer once loaded); `phases SPAWN_NS POLICY DIR` runs the same
 * start one phase at a time on the calling thread, timing each. With only
 * `POLICY`, runs the children and prints the figures (medians).
 */
fun main(args: Array<String>) {
    val main = System.nanoTime()
    if (args.size == 1) {
        // `ColdStartKt POLICY`: only the cold-start figures, without the rest of the benchmark.
        coldStartFigures(File(args[0])).forEach { (k, v) -> println(String.format(Locale.ROOT, "  %-46s %10.3f", k, v)) }
        return
    }
    val (mode, spawn, policyPath, dirPath) = args
    val spawnNs = spawn.toLong()
    val config = ConsentGateConfig(dataDir = File(dirPath), policyJson = File(policyPath).readText(), appVersion = "bench", region = "KZ")
    emit("kotlin_cold_jvm_to_main_ms_$mode", ms(spawnNs, main))
    when (mode) {
        "app" -> {
            // CPU time of this thread, beside the wall time: on a loaded
            // machine the difference is time the caller waited for a core.
            val threads = ManagementFactory.getThreadMXBean()
            threads.currentThreadCpuTime
            val c0 = threads.currentThreadCpuTime
            val t0 = System.nanoTime()
            val gate = ConsentGate.open(config)
            val t1 = System.nanoTime()
            val c1 = threads.currentThreadCpuTime
            // What `allows` answers before the load is the fail-closed
            // default, not a real answer: wait for the load, then ask.
            gate.awaitLoadedBlocking()
            val answer = gate.allows("usage_events")
            val t2 = System.nanoTime()
            check(answer) { "the stored grant did not come back" }
            emit("kotlin_open_main_thread_ms", ms(t0, t1))
            emit("kotlin_open_main_thread_cpu_ms", ms(c0, c1))
            emit("kotlin_cold_first_allows_ms", ms(spawnNs, t2))
            emit("kotlin_cold_open_to_first_allows_ms", ms(t0, t2))
            gate.close()
        }
        "phases" -> {
            val t0 = System.nanoTime()
            Class.forName("com.sun.jna.Native") // JNA's classes and its own native part, libjnidispatch
            val t1 = System.nanoTime()
            val lib = NativeLibrary.getInstance("consentgate") // dlopen of libconsentgate
            val t2 = System.nanoTime()
            val loader = ConsentGate::class.java.classLoader
            val uniffiLib = Class.forName("dev.consentgate.ffi.UniffiLib", false, loader) // load + verify, no init
            val t3 = System.nanoTime()
            Native.register(uniffiLib, lib) // what UniffiLib's init does first: bind every scaffolding function
            val t4 = System.nanoTime()
            // The rest of UniffiLib's init: the callback vtables handed to the
            // core (and a second, warm, registration, which the timing above excludes).
            Class.forName("dev.consentgate.ffi.UniffiLib", true, loader)
            val t5 = System.nanoTime()
            // The core's open alone, through the generated class (the wrapper's
            // classes not loaded yet): the store, the ledger's check, the
            // writer thread. Closed again to free the directory.
            val ffiConfig = GateConfig(dataDir = dirPath, policyJson = config.policyJson, region = "KZ", appVersion = "bench")
            val ffi = FfiConsentGate.open(ffiConfig)
            val t5a = System.nanoTime()
            ffi.shutdown()
            ffi.destroy()
            val t5b = System.nanoTime()
            // The Kotlin layer: its classes and kotlinx.coroutines' StateFlow,
            // the capture rules, the listeners, around a second (warm) open.
            val gate = ConsentGate.openBlocking(config)
            val answer = gate.allows("usage_events")
            val t6 = System.nanoTime()
            check(answer) { "the stored grant did not come back" }
            gate.close()
            // UniFFI's contract-version and checksum checks: the generated
            // code only runs them from uniffiEnsureInitialized(), which
            // nothing calls on this path; timed here for the record.
            val t7 = System.nanoTime()
            Class.forName("dev.consentgate.ffi.IntegrityCheckingUniffiLib", true, loader)
            val t8 = System.nanoTime()
            emit("kotlin_cold_jna_init_ms", ms(t0, t1))
            emit("kotlin_cold_library_load_ms", ms(t1, t2))
            emit("kotlin_cold_uniffi_class_load_ms", ms(t2, t3))
            emit("kotlin_cold_uniffi_register_ms", ms(t3, t4))
            emit("kotlin_cold_uniffi_callbacks_ms", ms(t4, t5))
            emit("kotlin_cold_core_open_ms", ms(t5, t5a))
            emit("kotlin_cold_kotlin_layer_open_ms", ms(t5b, t6))
            emit("kotlin_cold_phases_first_allows_ms", ms(spawnNs, t6))
            emit("kotlin_cold_uniffi_checksums_ms", ms(t7, t8))
        }
        else -> error("unknown mode $mode")
    }
}
