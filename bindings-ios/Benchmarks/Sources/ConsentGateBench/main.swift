// The Swift benchmark: what the caller's thread pays for the calls an app
// makes most, through the public API against the real core. Figures are
// medians of several rounds; the JSON goes to the path given (default
// target/consentgate-swift-bench.json), which the Rust report includes.
//
//   ConsentGateBench POLICY.json OUT.json
import ConsentGate
import Foundation

@inline(never)
func blackHole<T>(_ x: T) {
    withExtendedLifetime(x) {}
}

func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

let args = CommandLine.arguments
let policyPath = args.count > 1 ? args[1] : "examples/policies/example-kz.json"
let outPath = args.count > 2 ? args[2] : "target/consentgate-swift-bench.json"
let policy = try String(contentsOfFile: policyPath, encoding: .utf8)
let base = FileManager.default.temporaryDirectory.appendingPathComponent("consentgate-swift-bench-\(UUID().uuidString)")
defer { try? FileManager.default.removeItem(at: base) }

func config(_ name: String) throws -> ConsentGateConfiguration {
    let dir = base.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return ConsentGateConfiguration(dataDirectory: dir, policyJSON: policy, appVersion: "1.0.0", region: "KZ")
}

var figures: [(String, Double)] = []

// swift_open_caller_ms: how long `open` holds the caller, the first open of
// this process (what an app's launch pays), then warm ones.
do {
    let t0 = nowNs()
    let first = ConsentGate.open(try config("open-first"))
    let firstMs = Double(nowNs() - t0) / 1e6
    _ = try await first.awaitLoaded()
    first.close()
    var warm: [Double] = []
    for i in 0..<9 {
        let t = nowNs()
        let g = ConsentGate.open(try config("open-\(i)"))
        warm.append(Double(nowNs() - t) / 1e6)
        _ = try await g.awaitLoaded()
        g.close()
    }
    figures.append(("swift_open_caller_ms", firstMs))
    figures.append(("swift_open_caller_warm_ms", median(warm)))
}

let gate = try ConsentGate.openBlocking(try config("hot"))
try await gate.setConsent(["analytics": true], source: .banner)

// swift_allows_ns: one `allows` (the Swift-side copy), a granted and a denied category in turn.
do {
    let n = 2_000_000
    var rounds: [Double] = []
    for _ in 0..<7 {
        var hits = 0
        let t = nowNs()
        for i in 0..<n where gate.allows(i & 1 == 0 ? "usage_events" : "advertising_id") { hits += 1 }
        rounds.append(Double(nowNs() - t) / Double(n))
        blackHole(hits)
    }
    figures.append(("swift_allows_ns", median(rounds)))
}

// swift_record_event_us: one `recordEvent` with two properties, on the caller's thread.
do {
    let n = 20_000
    var rounds: [Double] = []
    for r in 0..<7 {
        let t = nowNs()
        for i in 0..<n { blackHole(gate.recordEvent("screen_view", properties: ["screen": "home", "i": i])) }
        rounds.append(Double(nowNs() - t) / Double(n) / 1e3)
        if r % 2 == 1 { try await gate.persist() }  // keep the queue from reaching its bound
    }
    figures.append(("swift_record_event_us", median(rounds)))
}

// swift_record_events_100_us: one `recordEvents` of 100 events.
do {
    let batch = (0..<100).map { Event("item_viewed", properties: ["id": "a\($0)", "n": $0]) }
    var rounds: [Double] = []
    for _ in 0..<7 {
        let calls = 200
        let t = nowNs()
        for _ in 0..<calls { blackHole(gate.recordEvents(batch)) }
        rounds.append(Double(nowNs() - t) / Double(calls) / 1e3)
        try await gate.persist()
    }
    figures.append(("swift_record_events_100_us", median(rounds)))
}
gate.close()

let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) }
if let load { figures.append(("swift_bench_load_avg", load)) }

func fmt(_ v: Double) -> String { String(format: v < 10 ? "%.3f" : "%.1f", v) }
let json = "{\n" + figures.map { "  \"\($0.0)\": \(fmt($0.1))" }.joined(separator: ",\n") + "\n}\n"
try json.write(toFile: outPath, atomically: true, encoding: .utf8)
print(json, terminator: "")
