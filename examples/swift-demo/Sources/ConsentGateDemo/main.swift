// A walk through consentgate's Swift API on Linux: the calls an iOS app
// makes, against the reference collector on loopback, checking each promise
// on the way (exit status 1 when one is broken). The Swift twin of
// examples/jvm-demo. Run it with examples/swift-demo/run.sh.
//
//   ConsentGateDemo POLICY.json COLLECTOR_URL DATA_DIR
import ConsentGate
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A broken promise: the demo stops with exit status 1.
struct Broken: Error, CustomStringConvertible {
    let description: String
}

func step(_ text: String) { print("\n== \(text)") }

func expect(_ condition: Bool, _ what: String) throws {
    print(condition ? "   ok: \(what)" : "   BROKEN: \(what)")
    if !condition { throw Broken(description: what) }
}

func describe(_ r: RecordResult) -> String {
    switch r {
    case .queued: return "queued"
    case .held: return "held until the stored decisions are known"
    case .notAllowed: return "dropped (no consent)"
    case let .invalid(reason): return "refused: \(reason)"
    case .closed: return "refused: the gate is closed"
    }
}

/// A device provider that says which fields the core asked for.
final class DemoDevice: DeviceInfoProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var fields: [String] = []
    var asked: [String] { lock.withLock { fields } }
    private func answer(_ field: String, _ value: String) -> String {
        lock.withLock { fields.append(field) }
        return value
    }
    func os() -> String? { answer("os", "iOS") }
    func osVersion() -> String? { answer("os_version", "18.2") }
    func model() -> String? { answer("model", "iPhone16,1") }
    func locale() -> String? { answer("locale", "kk-KZ") }
    func timezone() -> String? { answer("timezone", "Asia/Almaty") }
    func appVersion() -> String? { answer("app_version", "1.0.0") }
}

/// The collector's `GET /v1/stats`.
func collectorStats(_ base: URL) async throws -> [String: Any] {
    let (data, _) = try await URLSession.shared.data(from: base.appendingPathComponent("v1/stats"))
    return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
}

/// The policy with every endpoint pointed at the local collector.
func policy(_ path: String, collector: URL) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let endpoints = object["endpoints"] as? [[String: Any]] else {
        throw Broken(description: "\(path) is not a policy with endpoints")
    }
    object["endpoints"] = endpoints.map { e -> [String: Any] in
        var e = e
        e["url"] = collector.absoluteString
        return e
    }
    return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

func run(policyPath: String, collector: URL, dataDir: URL) async throws {
    ConsentGateLogging.forward(maxLevel: .info) { level, _, message in print("   [core \(level)] \(message)") }
    let config = ConsentGateConfiguration(
        dataDirectory: try DataDirectory.prepare(dataDir), policyJSON: try policy(policyPath, collector: collector),
        appVersion: "1.0.0", region: "KZ")

    step("Opening a consent gate in \(dataDir.path)")
    let t0 = DispatchTime.now()
    let gate = ConsentGate.open(config)
    let ms = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e6
    print("open returned after \(String(format: "%.2f", ms)) ms; the core opens in the background.")
    print("Recording \"app_start\" right away: \(describe(gate.recordEvent("app_start"))).")
    try expect(!gate.allows("usage_events"), "nothing is allowed while loading or before consent (G1)")
    let state = try await gate.awaitLoaded()
    print("Loaded policy \(state.policyID), revision \(state.revision).")

    step("A fresh install allows nothing")
    try expect(state.needsPrompt, "the banner is due: \(state.promptReasons.map(\.rawValue).joined(separator: ", "))")
    try expect(state.allowedCategories.isEmpty, "no category is allowed")
    let device = DemoDevice()
    _ = try await gate.collectDeviceInfo(device)
    try expect(device.asked.isEmpty, "no device field is read before consent")

    step("The user grants analytics on the banner")
    try await gate.setConsent(["analytics": true, "advertising": false], source: .banner)
    print("Allowed now: \(gate.currentState.allowedCategories.joined(separator: ", ")).")
    try expect(gate.allows("usage_events") && !gate.allows("advertising_id"), "usage events yes, advertising id no")

    step("Recording events")
    print("\"screen_view\": \(describe(gate.recordEvent("screen_view", properties: ["screen": "home", "tab": 2]))).")
    let batch = gate.recordEvents([Event("item_viewed", properties: ["id": "a1"]), Event("item_viewed", properties: ["id": "b2"])])
    print("Two more in one call: \(describe(batch)).")
    print("A bad name: \(describe(gate.recordEvent("9 lives"))).")
    print("Properties of 20 KB: \(describe(gate.recordEvent("upload", properties: ["blob": String(repeating: "x", count: 20_000)]))).")
    let info = try await gate.collectDeviceInfo(device)
    print("Device fields read with analytics granted: \(device.asked.joined(separator: ", ")) (os \(info.os ?? "-")).")
    let queued = try await gate.queueStats()
    try expect(queued.events == 3, "three valid events queued (\(queued.events))")

    step("Uploading to the collector at \(collector.absoluteString)")
    let report = try await gate.flush(using: URLSessionUploader())
    print("Flush: \(report.requests) request(s), \(report.eventsDelivered) events delivered.")
    let stats = try await collectorStats(collector)
    try expect((stats["events"] as? Int) == 3, "the collector stored exactly 3 events (\(stats["events"] ?? "none"))")

    step("The user withdraws analytics in settings")
    gate.recordEvent("tap")
    try await gate.setConsent(["analytics": false], source: .settings)
    let after = try await gate.queueStats()
    try expect(after.events == 0, "the queue is purged in the withdrawal's transaction (G3)")
    try expect(gate.recordEvent("tap") == .notAllowed, "a new event is dropped")

    step("The consent ledger")
    for e in try await gate.ledger() {
        print("  #\(e.seq) \(e.purpose) \(e.status.rawValue) via \(e.source.rawValue) (revision \(e.revision))")
    }
    let check = try await gate.verifyLedger()
    try expect(check.intact, "the hash chain of \(check.entries) entries is intact (G5)")

    step("The user asks to be forgotten")
    let before = try await gate.installationID()
    let ticket = try await gate.requestDeletion(reason: "user_request")
    print("Deletion request \(ticket.requestID): \(ticket.status).")
    try expect(try await gate.installationID() != before, "the installation id is rotated")
    let delivered = try await gate.flush(using: URLSessionUploader())
    let tickets = try await gate.deletionRequests()
    guard case let .acknowledged(receiptID, status)? = tickets.last?.status else {
        throw Broken(description: "the deletion request was not acknowledged (\(tickets.last?.status as Any))")
    }
    try expect(delivered.deletionsAcknowledged == 1, "the collector acknowledged it: receipt \(receiptID), \(status) (G6)")

    step("Export (the user's copy of everything stored)")
    print("\(try await gate.exportData().count) characters of JSON.")
    gate.close()
    print("\nClosed: buffered records committed, the directory released.")
}

let args = CommandLine.arguments
guard args.count == 4, let collector = URL(string: args[2]) else {
    FileHandle.standardError.write(Data("usage: ConsentGateDemo POLICY.json COLLECTOR_URL DATA_DIR\n".utf8))
    exit(2)
}
do {
    try await run(policyPath: args[1], collector: collector, dataDir: URL(fileURLWithPath: args[3], isDirectory: true))
    print("\nEvery step behaved.")
} catch {
    print("\nThe demo failed: \(error)")
    exit(1)
}
