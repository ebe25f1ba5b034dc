// The shared scenarios of tests/scenarios/*.json (format: its README.md)
// played out through the public Swift API, `import ConsentGate`. The Rust
// suite (tests/tests/scenarios.rs) and the Kotlin one (ScenariosTest.kt) run
// the same files: a Swift layer that drifts from the core — its mirrored
// state, its event buffer, its error mapping, its flush loop — fails here.
import Foundation
import XCTest

import ConsentGate

final class ScenariosTests: XCTestCase {
    /// Where every runner starts the clock: 2026-01-01T00:00:00Z.
    static let startMs: Int64 = 1_767_225_600_000

    static var scenariosDir: URL { repositoryRoot.appendingPathComponent("tests/scenarios") }

    private func loadScenarios() throws -> [(String, J)] {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.scenariosDir.path)
            .filter { $0.hasSuffix(".json") }.sorted()
        return try files.map { file in
            let data = try Data(contentsOf: Self.scenariosDir.appendingPathComponent(file))
            return (String(file.dropLast(5)), try JSONDecoder().decode(J.self, from: data))
        }
    }

    func testEverySharedScenarioReachesTheCoresStatesOutcomesAndQueueFigures() async throws {
        var failures: [String] = []
        let scenarios = try loadScenarios()
        for (name, doc) in scenarios {
            do {
                try await ScenarioRun(name: name, doc: doc, testCase: self).run()
                print("scenario \(name): ok")
            } catch {
                print("scenario \(name): FAILED: \(error)")
                failures.append("\(name): \(error)")
            }
        }
        print("scenarios: \(scenarios.count - failures.count) passed, \(failures.count) failed")
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }

    func testSharedScenariosCoverEveryGuarantee() throws {
        let scenarios = try loadScenarios()
        XCTAssertGreaterThanOrEqual(scenarios.count, 12, "only \(scenarios.count) scenarios in tests/scenarios")
        var covered = Set<String>()
        for (name, doc) in scenarios {
            XCTAssertEqual(doc["name"]?.string, name, "\(name): `name` must be the file name")
            let gs = doc["guarantees"]?.array?.compactMap(\.string) ?? []
            XCTAssertFalse(gs.isEmpty, "\(name): names no guarantee")
            covered.formUnion(gs)
        }
        let missing = (1...9).map { "G\($0)" }.filter { !covered.contains($0) }
        XCTAssertTrue(missing.isEmpty, "no scenario proves \(missing)")
    }
}

// MARK: - JSON values

/// A parsed JSON value, numbers kept as integers where they are whole.
indirect enum J: Decodable, Equatable, CustomStringConvertible {
    case null, bool(Bool), int(Int64), double(Double), string(String), array([J]), object([String: J])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([J].self) { self = .array(a) }
        else { self = .object(try c.decode([String: J].self)) }
    }

    subscript(key: String) -> J? { if case let .object(o) = self { return o[key] } else { return nil } }
    var string: String? { if case let .string(s) = self { return s } else { return nil } }
    var bool: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    var array: [J]? { if case let .array(a) = self { return a } else { return nil } }
    var object: [String: J]? { if case let .object(o) = self { return o } else { return nil } }
    var isNull: Bool { self == .null }
    var number: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }

    /// The value an app passes as event properties.
    var any: Any {
        switch self {
        case .null: return NSNull()
        case let .bool(b): return b
        case let .int(i): return i
        case let .double(d): return d
        case let .string(s): return s
        case let .array(a): return a.map(\.any)
        case let .object(o): return o.mapValues(\.any)
        }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return String(b)
        case let .int(i): return String(i)
        case let .double(d): return String(d)
        case let .string(s): return "\"\(s)\""
        case let .array(a): return "[" + a.map(\.description).joined(separator: ",") + "]"
        case let .object(o): return "{" + o.keys.sorted().map { "\"\($0)\":\(o[$0]!)" }.joined(separator: ",") + "}"
        }
    }
}

/// A value a runner computed, compared with an expected `J`.
private enum V: CustomStringConvertible {
    case null, bool(Bool), num(Double), str(String), list([V]), map([String: V])

    init(_ s: String?) { self = s.map(V.str) ?? .null }
    init(_ i: Int) { self = .num(Double(i)) }
    init(_ i: Int64) { self = .num(Double(i)) }
    init(_ strings: [String]) { self = .list(strings.map(V.str)) }

    func same(_ j: J) -> Bool {
        switch (self, j) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.num(a), _): return j.number == a
        case let (.str(a), .string(b)): return a == b
        case let (.list(a), .array(b)): return a.count == b.count && zip(a, b).allSatisfy { $0.same($1) }
        default: return false
        }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return String(b)
        case let .num(d): return d == d.rounded() ? String(Int64(d)) : String(d)
        case let .str(s): return "\"\(s)\""
        case let .list(l): return "[" + l.map(\.description).joined(separator: ",") + "]"
        case let .map(m): return "{" + m.keys.sorted().map { "\($0): \(m[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}

// MARK: - A run

/// A step that did not go as the scenario says.
struct ScenarioFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// What a step's call returned, for the expectations about it.
private enum Done {
    case nothing
    case outcome(String)
    case flush(FlushReport, [(kind: String, id: String)])
    case ticket(DeletionTicket)
    case device(asked: [String], fields: [String])
    case adID(String?, called: Bool)
}

private let deviceFields = ["os", "os_version", "model", "manufacturer", "locale", "timezone", "carrier", "app_version", "screen"]

/// Log lines captured since the last `capture_logs` step (debug and above).
private final class LogLines: @unchecked Sendable {
    static let shared = LogLines()
    private let lock = NSLock()
    private var lines: [String] = []
    func clear() { lock.withLock { lines = [] } }
    func append(_ l: String) { lock.withLock { lines.append(l) } }
    var all: [String] { lock.withLock { lines } }
}

/// One scenario on a fresh directory and a manual clock.
private final class ScenarioRun {
    private let name: String
    private let top: [String: J]
    private let dir: URL
    private let clock = ManualClock(ScenariosTests.startMs)
    private var gate: ConsentGate?
    private let policy: String
    private let region: String?
    /// Request ids by the labels of `sent` expectations.
    private var labels: [String: String] = [:]

    init(name: String, doc: J, testCase: XCTestCase) throws {
        self.name = name
        guard let top = doc.object else { throw ScenarioFailure("the scenario must be an object") }
        self.top = top
        guard let policy = top["policy"]?.string else { throw ScenarioFailure("`policy` must be a string") }
        self.policy = policy
        region = top["region"]?.string
        dir = try makeDataDirectory(for: testCase)
    }

    func run() async throws {
        try knownKeys(top, ["name", "guarantees", "proves", "policy", "region", "steps"], "scenario")
        guard let steps = top["steps"]?.array else { throw ScenarioFailure("`steps` must be an array") }
        defer { gate?.close() }
        for (i, raw) in steps.enumerated() {
            guard let step = raw.object, let action = step["do"]?.string else {
                throw ScenarioFailure("steps[\(i)]: a step is an object with a string `do`")
            }
            do {
                try await self.step(action, step)
            } catch let e as ScenarioFailure {
                throw ScenarioFailure("steps[\(i)] (\(action)): \(e.description)")
            }
        }
    }

    private func current() throws -> ConsentGate {
        guard let gate else { throw ScenarioFailure("no gate is open") }
        return gate
    }

    private func step(_ action: String, _ step: [String: J]) async throws {
        let args: Set<String>
        switch action {
        case "open", "reopen": args = ["policy", "region"]
        case "advance_clock": args = ["ms", "days"]
        case "set_consent": args = ["decisions", "source"]
        case "accept_all", "reject_all": args = ["source"]
        case "set_age": args = ["age", "parental_consent"]
        case "set_platform_signals": args = ["att", "limit_ad_tracking", "gpc"]
        case "record_event": args = ["name", "properties", "pad_bytes"]
        case "record_events": args = ["events", "repeat"]
        case "flush": args = ["replies"]
        case "request_deletion": args = ["reason"]
        case "advertising_id": args = ["provider_returns"]
        case "close", "persist", "check", "collect_device_info", "capture_logs": args = []
        default: throw ScenarioFailure("unknown action `\(action)`")
        }
        try knownKeys(step, args.union(["do", "expect"]), "step")
        let expect = step["expect"]?.object ?? [:]
        try knownKeys(expect, [
            "error", "outcome", "report", "sent", "ticket", "device_fields_asked", "device_fields", "ad_id",
            "ad_id_provider_called", "state", "allows", "queue", "deletions", "ledger", "export", "logs",
        ], "expect")
        let wantError = expect["error"]?.string
        var done = Done.nothing
        do {
            done = try await act(action, step)
            if let wantError { throw ScenarioFailure("expected the error \(wantError), but the call succeeded") }
        } catch let e as ConsentGateError {
            guard let wantError else { throw ScenarioFailure("unexpected error: \(e.localizedDescription)") }
            let got = errorKind(e)
            if got != wantError { throw ScenarioFailure("expected the error \(wantError), got \(got) (\(e.localizedDescription))") }
        }
        try checkDone(expect, done)
        guard action == "advance_clock" else { return try await checkAfter(expect) }
        // What time made due (an expiry) the core applies on its own thread.
        let deadline = Date().addingTimeInterval(5)
        while true {
            do {
                return try await checkAfter(expect)
            } catch let e as ScenarioFailure {
                if Date() > deadline { throw e }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
        }
    }

    private func open(_ step: [String: J]) async throws {
        let policyName = step["policy"]?.string ?? policy
        let region = step.keys.contains("region") ? step["region"]?.string : self.region
        let policyJSON = try String(
            contentsOf: ScenariosTests.scenariosDir.appendingPathComponent("policies/\(policyName).json"), encoding: .utf8)
        let opened = ConsentGate.open(ConsentGateConfiguration(
            dataDirectory: dir, policyJSON: policyJSON, appVersion: "1.2.3", region: region, clock: clock))
        do {
            try await opened.awaitLoaded()
        } catch {
            opened.close()
            throw error
        }
        // The one before (closed, or this open would have been busy) goes.
        gate = opened
    }

    private func source(_ step: [String: J]) throws -> ConsentSource {
        switch step["source"]?.string ?? "banner" {
        case "banner": return .banner
        case "settings": return .settings
        case "api": return .api
        case let s: throw ScenarioFailure("unknown source `\(s)`")
        }
    }

    private func act(_ action: String, _ step: [String: J]) async throws -> Done {
        switch action {
        case "open": try await open(step)
        case "close":
            guard let gate else { throw ConsentGateError.closed }
            gate.close()
        case "reopen":
            guard let gate else { throw ConsentGateError.closed }
            gate.close()
            try await open(step)
        case "advance_clock":
            clock.advance(ms: try int(step["ms"] ?? .int(0)) + (try int(step["days"] ?? .int(0))) * 86_400_000)
            ConsentGate.timeChanged()
        case "set_consent":
            guard let decisions = step["decisions"]?.object else { throw ScenarioFailure("`decisions` must be an object") }
            var d: [String: Bool] = [:]
            for (purpose, granted) in decisions {
                guard let g = granted.bool else { throw ScenarioFailure("decisions.\(purpose) must be true or false") }
                d[purpose] = g
            }
            try await current().setConsent(d, source: try source(step))
        case "accept_all": try await current().acceptAll(source: try source(step))
        case "reject_all": try await current().rejectAll(source: try source(step))
        case "set_age":
            let age = try step["age"].flatMap { $0.isNull ? nil : Int(try int($0)) }
            try await current().setAge(age, parentalConsent: step["parental_consent"]?.bool ?? false)
        case "set_platform_signals":
            let att: TrackingAuthorization
            switch step["att"]?.string ?? "not_applicable" {
            case "not_applicable": att = .notApplicable
            case "not_determined": att = .notDetermined
            case "restricted": att = .restricted
            case "denied": att = .denied
            case "authorized": att = .authorized
            case let a: throw ScenarioFailure("unknown att `\(a)`")
            }
            try await current().setPlatformSignals(PlatformSignals(
                trackingAuthorization: att, limitAdTracking: step["limit_ad_tracking"]?.bool ?? false,
                globalPrivacyControl: step["gpc"]?.bool ?? false))
        case "record_event":
            let e = try event(step)
            return .outcome(try resultName(try current().recordEvent(e.name, properties: e.properties)))
        case "record_events":
            guard let list = step["events"]?.array else { throw ScenarioFailure("`events` must be an array") }
            let one = try list.map { raw -> Event in
                guard let e = raw.object else { throw ScenarioFailure("an event must be an object") }
                try knownKeys(e, ["name", "properties", "pad_bytes"], "event")
                return try event(e)
            }
            let repeatCount = Int(try int(step["repeat"] ?? .int(1)))
            let all = Array(repeating: one, count: repeatCount).flatMap { $0 }
            return .outcome(try resultName(try current().recordEvents(all)))
        case "persist": try await current().persist()
        case "flush": return try await flush(step)
        case "request_deletion": return .ticket(try await current().requestDeletion(reason: step["reason"]?.string))
        case "collect_device_info":
            let device = FakeDevice()
            let info = try await current().collectDeviceInfo(device)
            let values = [info.os, info.osVersion, info.model, info.manufacturer, info.locale, info.timezone, info.carrier,
                          info.appVersion, info.screen]
            return .device(asked: device.asked, fields: zip(deviceFields, values).filter { $0.1 != nil }.map(\.0))
        case "advertising_id":
            let provider = FakeAdID(returns: step["provider_returns"]?.string)
            let value = try await current().advertisingID(provider)
            return .adID(value, called: provider.called)
        case "capture_logs":
            LogLines.shared.clear()
            ConsentGateLogging.forward(maxLevel: .debug) { level, target, message in
                LogLines.shared.append("\(level) \(target): \(message)")
            }
        case "check": break
        default: throw ScenarioFailure("unknown action `\(action)`")
        }
        return .nothing
    }

    private func flush(_ step: [String: J]) async throws -> Done {
        let replies = try (step["replies"]?.array ?? []).map(reply)
        let uploader = ScriptedUploader(replies)
        let report = try await current().flush(using: uploader, maxWait: 0)
        let (sent, left, unscripted) = uploader.outcome
        if unscripted { throw ScenarioFailure("the gate sent more requests than scripted: \(sent)") }
        if left > 0 { throw ScenarioFailure("\(left) scripted replies were never used (sent: \(sent))") }
        return .flush(report, sent)
    }

    private func checkDone(_ expect: [String: J], _ done: Done) throws {
        if let want = expect["outcome"] {
            guard case let .outcome(got) = done else { throw ScenarioFailure("`outcome` is only for record_event(s)") }
            if want.string != got { throw ScenarioFailure("outcome: expected \(want), got \(got)") }
        }
        if expect["report"] != nil || expect["sent"] != nil {
            guard case let .flush(r, sent) = done else { throw ScenarioFailure("`report` and `sent` are only for flush") }
            if let want = expect["report"] {
                try compareFields("report", want, [
                    "requests": V(r.requests), "batches_delivered": V(r.batchesDelivered),
                    "events_delivered": V(r.eventsDelivered), "events_rejected": V(r.eventsRejected),
                    "retries": V(r.retries), "deletions_acknowledged": V(r.deletionsAcknowledged),
                    "deletions_failed": V(r.deletionsFailed), "waiting": .bool(r.waitMs != nil),
                ])
            }
            if let want = expect["sent"]?.array {
                let shown = sent.map { "\($0.kind):\($0.id)" }
                if want.count != sent.count { throw ScenarioFailure("sent: expected \(want), got \(shown)") }
                for (w, s) in zip(want, sent) {
                    let parts = (w.string ?? "").split(separator: ":", maxSplits: 1).map(String.init)
                    if parts.first != s.kind { throw ScenarioFailure("sent: expected \(want), got \(shown)") }
                    if parts.count == 2 { try checkLabel(parts[1], s.id) }
                }
            }
        }
        if let want = expect["ticket"] {
            guard case let .ticket(t) = done else { throw ScenarioFailure("`ticket` is only for request_deletion") }
            try compareFields("ticket", want, ticketMap(t))
        }
        if expect["device_fields_asked"] != nil || expect["device_fields"] != nil {
            guard case let .device(asked, fields) = done else {
                throw ScenarioFailure("`device_fields…` are only for collect_device_info")
            }
            for (key, got) in [("device_fields_asked", asked), ("device_fields", fields)] {
                guard let want = expect[key]?.array else { continue }
                if want.compactMap(\.string).sorted() != got.sorted() {
                    throw ScenarioFailure("\(key): expected \(want), got \(got)")
                }
            }
        }
        if expect["ad_id"] != nil || expect["ad_id_provider_called"] != nil {
            guard case let .adID(value, called) = done else { throw ScenarioFailure("`ad_id…` are only for advertising_id") }
            if let want = expect["ad_id"], !V(value).same(want) {
                throw ScenarioFailure("ad_id: expected \(want), got \(value ?? "null")")
            }
            if let want = expect["ad_id_provider_called"], want.bool != called {
                throw ScenarioFailure("ad_id_provider_called: expected \(want), got \(called)")
            }
        }
    }

    private func checkAfter(_ expect: [String: J]) async throws {
        if let want = expect["state"] { try compareFields("state", want, stateMap(try current().currentState)) }
        if let want = expect["allows"]?.object {
            for (category, w) in want {
                let got = try current().allows(category)
                if w.bool != got { throw ScenarioFailure("allows(\(category)): expected \(w), got \(got)") }
            }
        }
        if let want = expect["queue"] {
            let q = try await current().queueStats()
            try compareFields("queue", want, [
                "events": V(q.events), "bytes": V(q.bytes), "evicted": V(q.evicted),
                "dropped_no_consent": V(q.droppedNoConsent), "delivered": V(q.delivered), "rejected": V(q.rejected),
            ])
        }
        if let want = expect["deletions"]?.array {
            let got = try await current().deletionRequests()
            if want.count != got.count { throw ScenarioFailure("deletions: expected \(want.count) tickets, got \(got.count)") }
            for (i, (w, t)) in zip(want, got).enumerated() { try compareFields("deletions[\(i)]", w, ticketMap(t)) }
        }
        if let want = expect["ledger"] {
            let c = try await current().verifyLedger()
            try compareFields("ledger", want, ["intact": .bool(c.intact), "entries": V(c.entries)])
        }
        if let checks = expect["export"]?.array {
            let text = try await current().exportData()
            let doc = try JSONDecoder().decode(J.self, from: Data(text.utf8))
            for (i, w) in checks.enumerated() {
                do {
                    try checkExport(w, doc, text)
                } catch let e as ScenarioFailure {
                    throw ScenarioFailure("export[\(i)]: \(e.description)")
                }
            }
        }
        if let want = expect["logs"]?.object {
            try knownKeys(want, ["min_lines", "omit_text"], "logs")
            let lines = LogLines.shared.all
            let min = try int(want["min_lines"] ?? .int(0))
            if lines.count < min { throw ScenarioFailure("logs: expected at least \(min) lines, got \(lines.count)") }
            for s in (want["omit_text"]?.array ?? []).compactMap(\.string) {
                if let line = lines.first(where: { $0.contains(s) }) { throw ScenarioFailure("logs: a line contains \"\(s)\": \(line)") }
            }
        }
    }

    /// Within a scenario a label is one request id, and one id has one label.
    private func checkLabel(_ label: String, _ id: String) throws {
        if let known = labels[label] {
            if known != id { throw ScenarioFailure("sent: request `\(label)` was \(known), now \(id)") }
            return
        }
        if let other = labels.first(where: { $0.value == id }) {
            throw ScenarioFailure("sent: `\(label)` is the same request as `\(other.key)`")
        }
        labels[label] = id
    }
}

// MARK: - Helpers

private func event(_ e: [String: J]) throws -> Event {
    guard let name = e["name"]?.string else { throw ScenarioFailure("`name` must be a string") }
    var props: [String: Any] = [:]
    if let p = e["properties"] {
        guard let o = p.object else { throw ScenarioFailure("`properties` must be an object") }
        props = o.mapValues(\.any)
    }
    if let pad = e["pad_bytes"] { props["pad"] = String(repeating: "x", count: Int(try int(pad))) }
    return Event(name, properties: props.isEmpty ? nil : props)
}

/// The scenario's outcome name. Swift's `recordEvent` answers a closed gate
/// with `.closed` instead of throwing (it is fire-and-forget): that is the
/// `closed` error of the other layers.
private func resultName(_ r: RecordResult) throws -> String {
    switch r {
    case .queued: return "recorded"
    case .notAllowed: return "dropped"
    case .invalid: return "invalid"
    case .held: return "held"
    case .closed: throw ConsentGateError.closed
    }
}

private func reply(_ raw: J) throws -> UploadResult {
    guard let r = raw.object else { throw ScenarioFailure("a reply must be an object") }
    try knownKeys(r, ["status", "retry_after_s", "body", "network_error"], "reply")
    if let message = r["network_error"]?.string { return .networkError(message: message) }
    guard let status = r["status"] else { throw ScenarioFailure("a reply needs `status` or `network_error`") }
    return .http(status: Int(try int(status)), retryAfterSeconds: try r["retry_after_s"].map(int), body: r["body"]?.string)
}

private func errorKind(_ e: ConsentGateError) -> String {
    switch e {
    case .invalidPolicy: return "invalid_policy"
    case .invalidArgument: return "invalid_argument"
    case .unknownPurpose: return "unknown_purpose"
    case .ageRestricted: return "age_restricted"
    case .notWithdrawable: return "not_withdrawable"
    case .gpcRestricted: return "gpc_restricted"
    case .storage: return "storage"
    case .closed: return "closed"
    case .busy: return "busy"
    case .internal: return "internal"
    }
}

private func stateMap(_ s: ConsentState) -> [String: V] {
    [
        "revision": V(s.revision),
        "needs_prompt": .bool(s.needsPrompt),
        "prompt_reasons": V(s.promptReasons.map(\.rawValue)),
        "purposes": .map(Dictionary(uniqueKeysWithValues: s.purposes.map { ($0.id, V.str($0.status.rawValue)) })),
        "sources": .map(Dictionary(uniqueKeysWithValues: s.purposes.map { ($0.id, V($0.source?.rawValue)) })),
        "allowed": V(s.allowedCategories),
        "age_restricted": .bool(s.ageRestricted),
        "gpc": .bool(s.gpc),
    ]
}

private func ticketMap(_ t: DeletionTicket) -> [String: V] {
    var m: [String: V] = [
        "reason": V(t.reason), "installation_ids": V(t.installationIDs.count), "endpoints": V(t.endpoints.count),
        "receipt_id": .null, "receipt_status": .null, "http_status": .null,
    ]
    switch t.status {
    case .pending: m["status"] = .str("pending")
    case let .acknowledged(receiptID, status):
        m["status"] = .str("acknowledged")
        m["receipt_id"] = .str(receiptID)
        m["receipt_status"] = .str(status)
    case let .failed(httpStatus):
        m["status"] = .str("failed")
        m["http_status"] = V(httpStatus)
    }
    return m
}

/// Every field of `want` must be in `got` with the same value; nested maps compare the keys named.
private func compareFields(_ what: String, _ want: J, _ got: [String: V]) throws {
    guard let fields = want.object else { throw ScenarioFailure("`\(what)` must be an object") }
    for (k, w) in fields {
        guard let g = got[k] else { throw ScenarioFailure("\(what): there is no field `\(k)` to expect") }
        if case let .object(wm) = w, case let .map(gm) = g {
            for (sub, wv) in wm {
                guard let gv = gm[sub] else { throw ScenarioFailure("\(what).\(k): no `\(sub)`") }
                if !gv.same(wv) { throw ScenarioFailure("\(what).\(k).\(sub): expected \(wv), got \(gv)") }
            }
        } else if !g.same(w) {
            throw ScenarioFailure("\(what).\(k): expected \(w), got \(g)")
        }
    }
}

private func checkExport(_ raw: J, _ doc: J, _ text: String) throws {
    guard let w = raw.object else { throw ScenarioFailure("an export check must be an object") }
    try knownKeys(w, ["path", "equals", "length", "absent", "contains_text", "omits_text"], "export")
    if let s = w["contains_text"]?.string, !text.contains(s) { throw ScenarioFailure("the export does not contain \"\(s)\"") }
    if let s = w["omits_text"]?.string, text.contains(s) { throw ScenarioFailure("the export contains \"\(s)\"") }
    guard let path = w["path"]?.string else { return }
    var at: J? = doc
    for seg in path.split(separator: ".").map(String.init) {
        switch at {
        case let .array(a)?: at = Int(seg).flatMap { $0 >= 0 && $0 < a.count ? a[$0] : nil }
        case let .object(o)?: at = o[seg]
        default: at = nil
        }
    }
    let absent = at == nil || at == .null
    if let want = w["absent"]?.bool, want != absent { throw ScenarioFailure("\(path): expected absent=\(want), found \(at.map(\.description) ?? "nothing")") }
    if let want = w["equals"] {
        guard let at, at == want || (at.number != nil && at.number == want.number) else {
            throw ScenarioFailure("\(path): expected \(want), found \(at.map(\.description) ?? "nothing")")
        }
    }
    if let want = w["length"] {
        let len: Int
        switch at {
        case let .array(a)?: len = a.count
        case let .object(o)?: len = o.count
        default: throw ScenarioFailure("\(path): expected \(want) items, found \(at.map(\.description) ?? "nothing")")
        }
        if want.number != Double(len) { throw ScenarioFailure("\(path): expected \(want) items, found \(len)") }
    }
}

private func int(_ v: J) throws -> Int64 {
    switch v {
    case let .int(i): return i
    case let .double(d) where d == d.rounded(): return Int64(d)
    default: throw ScenarioFailure("expected a number, got \(v)")
    }
}

/// A key the runner does not know is a typo that would make an expectation vacuous: refuse it.
private func knownKeys(_ m: [String: J], _ known: Set<String>, _ what: String) throws {
    if let k = m.keys.sorted().first(where: { !known.contains($0) }) {
        throw ScenarioFailure("unknown key `\(k)` in \(what) (known: \(known.sorted()))")
    }
}

/// Replies as scripted, and notes what was sent.
private final class ScriptedUploader: Uploader, @unchecked Sendable {
    private let lock = NSLock()
    private var replies: [UploadResult]
    private var sent: [(kind: String, id: String)] = []
    private var unscripted = false

    init(_ replies: [UploadResult]) { self.replies = replies }

    func send(_ request: UploadRequest) -> UploadResult {
        let path = request.url.absoluteString
        let kind = path.hasSuffix("/v1/deletion") ? "deletion" : path.hasSuffix("/v1/batch") ? "batch" : "other"
        return lock.withLock {
            sent.append((kind, request.requestID))
            if replies.isEmpty {
                unscripted = true
                return .networkError(message: "the scenario scripted no reply for this request")
            }
            return replies.removeFirst()
        }
    }

    var outcome: ([(kind: String, id: String)], Int, Bool) { lock.withLock { (sent, replies.count, unscripted) } }
}

/// Answers `scenario-<field>` for every field and notes what it was asked.
private final class FakeDevice: DeviceInfoProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var fields: [String] = []
    var asked: [String] { lock.withLock { fields } }
    private func answer(_ f: String) -> String? {
        lock.withLock { fields.append(f) }
        return "scenario-\(f)"
    }
    func os() -> String? { answer("os") }
    func osVersion() -> String? { answer("os_version") }
    func model() -> String? { answer("model") }
    func manufacturer() -> String? { answer("manufacturer") }
    func locale() -> String? { answer("locale") }
    func timezone() -> String? { answer("timezone") }
    func carrier() -> String? { answer("carrier") }
    func appVersion() -> String? { answer("app_version") }
    func screen() -> String? { answer("screen") }
}

/// Returns what the scenario says and notes whether it was asked.
private final class FakeAdID: AdvertisingIDProvider, @unchecked Sendable {
    private let lock = NSLock()
    private let returns: String?
    private var wasCalled = false
    init(returns: String?) { self.returns = returns }
    var called: Bool { lock.withLock { wasCalled } }
    func advertisingID() -> String? {
        lock.withLock { wasCalled = true }
        return returns
    }
}
