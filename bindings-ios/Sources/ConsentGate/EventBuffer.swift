// The Swift side of recording: the bounded buffer recordEvent appends to
// (CaptureBuffer), the events held while the core is still opening, and the
// hand-over of the buffer to the core in batches (Crossing, through the
// core's record_captured). What may be kept is decided from the core's
// answers (the mirrored state, CaptureRules); the core checks every event
// again when it crosses. The same design as the Kotlin layer's EventBuffer.kt.
import Foundation
internal import ConsentGateFFI

/// Events captured on the Swift side and not yet handed to the core, with
/// the consent facts they are captured under.
///
/// One lock guards everything here. Capturing reads `usageAllowed` and
/// `version` and appends under it; `onState` (called by the core's listener
/// before `setConsent` & co. return) updates both and, when `usage_events`
/// is no longer allowed, empties the buffer under it. So an event is either
/// appended before a withdrawal's listener call, and then purged by it, or
/// refused (G3).
///
/// While the core opens nothing is known yet: not the stored decisions, not
/// the rules. Events are held as they come, with their capture time, up to
/// `ConsentGate.maxHeldWhileLoading` events and
/// `ConsentGate.maxHeldBytesWhileLoading` bytes (the oldest evicted and
/// counted beyond). The first state the core publishes judges them, under
/// this lock and before any consent change can run (writes wait for the
/// open): each is checked with the core's rules, then kept only if that
/// state allows `usage_events` (the stored decisions, in force when the
/// event was captured: one gate per data directory), dropped and counted
/// otherwise.
///
/// Once open, the buffer is bounded by CaptureRules (`max_buffered_events`,
/// `max_buffered_bytes`): when an event does not fit, the oldest are evicted
/// (G8) and counted; the count reaches the core with the next crossing.
final class CaptureBuffer: @unchecked Sendable {
    /// Where the buffer is in the gate's life.
    enum Phase { case loading, open, failed, closed }

    /// What `append` did, and what its caller must do next. `retry`: the
    /// core finished opening after the caller read the (absent) check, so
    /// the event was not checked; check it and append again.
    enum Appended { case dropped, held, queued, queuedArmTimer, queuedCrossSoon, retry, closed }

    /// What `take` hands to the core: events oldest first, and the host-side drop and eviction counts.
    struct Batch {
        let events: [ConsentGateFFI.CapturedEvent]
        let dropped: Int64
        let evicted: Int64
    }

    /// What judging the held events came to, for the log (no payload in it).
    struct Judged {
        let kept: Int
        let dropped: Int
        let invalid: Int
        let firstInvalid: String?
    }

    private struct Held {
        let name: String
        let properties: EncodedProperties
        let atMs: Int64
        let bytes: Int
    }

    private struct Pending {
        let name: String
        let json: [UInt8]?
        let atMs: Int64
        let version: Int64
        let size: Int
    }

    /// Hand events to the core in the background once this many wait (fewer under a smaller policy bound).
    static let crossAt = 256

    private let lock = Lock()

    // Everything below is guarded by `lock`.
    private var phase = Phase.loading
    private var held: [Held] = []
    private var heldHead = 0
    private var heldBytes = 0
    private var check: EventCheck?
    private var maxEvents = 1
    private var maxBytes = 1
    private var crossAt = 1
    // The events: `events[head...]`, oldest first (evicting moves `head`).
    private var events: [Pending] = []
    private var head = 0
    private var bytes = 0
    private var dropped: Int64 = 0
    private var evicted: Int64 = 0
    private var evictedSinceOpen = 0
    private var usageAllowed = false
    private var version: Int64 = 0
    private var timerArmed = false
    private var kickQueued = false

    /// Events waiting to cross (held ones included).
    var count: Int { lock.withLock { events.count - head + held.count - heldHead } }

    /// Events this buffer evicted because it was full, since open.
    var evictedTotal: Int { lock.withLock { evictedSinceOpen } }

    /// The core's rules, known once it has opened (before its first state is
    /// published): the bounds of the buffer and the check for held events.
    func apply(rules: CaptureRules, check: EventCheck) {
        lock.withLock {
            self.check = check
            maxEvents = Int(clamping: max(1, rules.maxBufferedEvents))
            maxBytes = Int(clamping: max(1, rules.maxBufferedBytes))
            crossAt = min(CaptureBuffer.crossAt, maxEvents)
        }
    }

    /// Appends one event of `size` bytes captured at `atMs`: held while
    /// loading, appended under the mirrored consent version when
    /// `usage_events` is allowed (evicting the oldest when it does not fit),
    /// counted as dropped otherwise. `validated` says whether the caller
    /// checked it with the core's rules.
    func append(name: String, properties: EncodedProperties, size: Int, atMs: Int64, validated: Bool) -> Appended {
        lock.withLock {
            switch phase {
            case .closed: return .closed
            case .failed: return .dropped
            case .loading:
                holdLocked(Held(name: name, properties: properties, atMs: atMs,
                                bytes: name.utf8.count + properties.utf8Bytes))
                return .held
            case .open:
                if !validated { return .retry }
            }
            guard usageAllowed else {
                dropped += 1
                return .dropped
            }
            let evictedBefore = evicted
            makeRoomLocked(size)
            events.append(Pending(name: name, json: properties.bytes, atMs: atMs, version: version, size: size))
            bytes += size
            return nextLocked(evictedNow: evicted != evictedBefore)
        }
    }

    /// `append` for many events at once, under one lock: all held, all
    /// dropped or all appended (the oldest buffered evicted to make room; a
    /// batch larger than the buffer keeps its newest events).
    func appendAll(
        names: [String], properties: [EncodedProperties], sizes: [Int], atMs: Int64, validated: Bool
    ) -> Appended {
        lock.withLock {
            switch phase {
            case .closed: return .closed
            case .failed: return .dropped
            case .loading:
                for i in names.indices {
                    holdLocked(Held(name: names[i], properties: properties[i], atMs: atMs,
                                    bytes: names[i].utf8.count + properties[i].utf8Bytes))
                }
                return .held
            case .open:
                if !validated { return .retry }
            }
            guard usageAllowed else {
                dropped += Int64(names.count)
                return .dropped
            }
            let evictedBefore = evicted
            for i in names.indices {
                makeRoomLocked(sizes[i])
                events.append(Pending(name: names[i], json: properties[i].bytes, atMs: atMs, version: version, size: sizes[i]))
                bytes += sizes[i]
            }
            return nextLocked(evictedNow: evicted != evictedBefore)
        }
    }

    private func holdLocked(_ e: Held) {
        while held.count - heldHead > 0,
              held.count - heldHead >= ConsentGate.maxHeldWhileLoading
                || heldBytes + e.bytes > ConsentGate.maxHeldBytesWhileLoading {
            heldBytes -= held[heldHead].bytes
            heldHead += 1
            evictLocked(1)
        }
        held.append(e)
        heldBytes += e.bytes
    }

    /// Evicts the oldest events until one of `size` bytes fits. An event
    /// larger than `maxBytes` on its own is kept alone: the core evicts it
    /// and counts it.
    private func makeRoomLocked(_ size: Int) {
        while events.count - head > 0, events.count - head >= maxEvents || bytes + size > maxBytes {
            bytes -= events[head].size
            head += 1
            evictLocked(1)
        }
        // Compact once the evicted prefix is most of the array.
        if head > 64, head * 2 > events.count {
            events.removeFirst(head)
            head = 0
        }
    }

    private func evictLocked(_ n: Int) {
        evicted += Int64(n)
        evictedSinceOpen += n
    }

    private func nextLocked(evictedNow: Bool) -> Appended {
        if evictedNow || events.count - head >= crossAt {
            if kickQueued { return .queued }
            kickQueued = true
            return .queuedCrossSoon
        }
        if timerArmed { return .queued }
        timerArmed = true
        return .queuedArmTimer
    }

    /// The core's consent state changed (called under the mirror's lock,
    /// with versions that only go up). The first call after the open judges
    /// the held events and returns what it did; later calls return nil.
    /// Without `usage_events` every buffered event is purged: each was
    /// captured under an earlier version at which it was allowed, so a
    /// withdrawal happened since, and the core would drop it at crossing anyway.
    func onState(usageAllowed: Bool, version: Int64) -> Judged? {
        lock.withLock {
            if phase == .closed || phase == .failed { return nil }
            self.usageAllowed = usageAllowed
            self.version = version
            let judged = phase == .loading ? judgeHeldLocked() : nil
            if !usageAllowed, events.count - head > 0 {
                events.removeAll()
                head = 0
                bytes = 0
            }
            return judged
        }
    }

    private func judgeHeldLocked() -> Judged {
        phase = .open
        var kept = 0, refused = 0, invalid = 0
        var firstInvalid: String?
        for e in held[heldHead...] {
            if let problem = check?.problem(name: e.name, properties: e.properties) {
                invalid += 1
                if firstInvalid == nil { firstInvalid = problem }
            } else if !usageAllowed {
                refused += 1
            } else {
                let size = (check?.recordOverheadBytes ?? 0) + e.bytes
                makeRoomLocked(size)
                events.append(Pending(name: e.name, json: e.properties.bytes, atMs: e.atMs, version: version, size: size))
                bytes += size
                kept += 1
            }
        }
        held = []
        heldHead = 0
        heldBytes = 0
        dropped += Int64(refused)
        return Judged(kept: kept, dropped: refused, invalid: invalid, firstInvalid: firstInvalid)
    }

    /// The core could not be opened: held events are let go; later ones are
    /// dropped. Returns how many were held.
    func failOpen() -> Int {
        lock.withLock {
            guard phase == .loading else { return 0 }
            phase = .failed
            let n = held.count - heldHead
            held = []
            heldHead = 0
            heldBytes = 0
            return n
        }
    }

    /// Takes what is buffered and the host-side drop and eviction counts
    /// (which restart from zero); `close` also refuses later captures. Nil
    /// when there is nothing to hand over (or while loading: held events
    /// wait for their judgement).
    func take(close: Bool) -> Batch? {
        // The swap is under the lock; building the core's records is not,
        // so recording threads never wait for it.
        let taken: (events: ArraySlice<Pending>, dropped: Int64, evicted: Int64)? = lock.withLock {
            timerArmed = false
            kickQueued = false
            if close {
                if phase == .loading {
                    held = []
                    heldHead = 0
                    heldBytes = 0
                }
                phase = .closed
                usageAllowed = false
            }
            let n = events.count - head
            if n == 0, dropped == 0, evicted == 0 { return nil }
            let out = (events[head...], dropped, evicted)
            events = []
            events.reserveCapacity(min(n, crossAt * 2))
            head = 0
            bytes = 0
            dropped = 0
            evicted = 0
            return out
        }
        guard let taken else { return nil }
        return Batch(
            events: taken.events.map {
                ConsentGateFFI.CapturedEvent(
                    name: $0.name, propertiesJson: $0.json.map { String(decoding: $0, as: UTF8.self) }, capturedAtMs: $0.atMs, consentVersion: $0.version)
            },
            dropped: taken.dropped, evicted: taken.evicted)
    }

    /// A crossing failed: its counts wait for the next one (nothing is dropped silently).
    func restoreCounts(dropped: Int64, evicted: Int64) {
        lock.withLock {
            self.dropped += dropped
            self.evicted += evicted
        }
    }
}

/// Hands the `CaptureBuffer` to the core: on one shared background queue
/// when `CaptureBuffer.crossAt` events wait, when the buffer is full
/// (evicting), or `window` after the first one; and on the calling thread
/// before anything that must see them (consent changes, queue figures,
/// persist, flush, export, close). Never on a recording thread. One crossing
/// at a time, in capture order: a synchronous crossing waits for a
/// background one in flight, so when it returns every event captured before
/// it is in the core.
final class Crossing: @unchecked Sendable {
    private let ffi: ConsentGateFFI.ConsentGate
    private let buffer: CaptureBuffer
    private let invalidCount: Counter
    private let window: TimeInterval

    /// Held for the whole hand-over, FFI call included.
    private let crossLock = Lock()
    /// Guarded by `crossLock`: the native object is shut down.
    private var nativeGone = false

    /// One serial queue for every gate of the process.
    private static let queue = DispatchQueue(label: "dev.consentgate.crossing", qos: .utility)

    init(ffi: ConsentGateFFI.ConsentGate, buffer: CaptureBuffer, invalidCount: Counter, window: TimeInterval) {
        self.ffi = ffi
        self.buffer = buffer
        self.invalidCount = invalidCount
        self.window = window
    }

    /// Starts what `CaptureBuffer.append` asked for: nothing, a timer, or a crossing soon.
    func dispatch(_ next: CaptureBuffer.Appended) {
        switch next {
        case .queuedArmTimer: soon()
        case .queuedCrossSoon: Crossing.queue.async { [weak self] in self?.cross() }
        default: break
        }
    }

    /// Crosses in the background after the window (events judged at open are waiting).
    func soon() {
        Crossing.queue.asyncAfter(deadline: .now() + window) { [weak self] in self?.cross() }
    }

    /// Hands everything buffered to the core now, on this thread.
    func cross() {
        crossLock.withLock {
            guard !nativeGone, let batch = buffer.take(close: false) else { return }
            deliver(batch)
        }
    }

    /// Crosses what is left, refuses later captures, then runs `shutdown`
    /// (no crossing can run after it).
    func close(shutdown: () -> Void) {
        crossLock.withLock {
            let taken = buffer.take(close: true)
            guard !nativeGone else { return }
            nativeGone = true
            if let taken { deliver(taken) }
            shutdown()
        }
    }

    private func deliver(_ batch: CaptureBuffer.Batch) {
        let report: CaptureReport
        do {
            report = try ffi.recordCaptured(events: batch.events, droppedNoConsent: batch.dropped, evicted: batch.evicted)
        } catch {
            // Only a closed or broken core gets here; the caller's own call
            // to it reports that. The counts wait for the next crossing.
            buffer.restoreCounts(dropped: batch.dropped, evicted: batch.evicted)
            ConsentGateLogging.log(
                .warn, "consentgate: \(batch.events.count) captured events could not be handed to the core: \(type(of: error))")
            return
        }
        if batch.evicted > 0 {
            ConsentGateLogging.log(
                .debug, "consentgate: \(batch.evicted) recorded event(s) evicted on the Swift side (buffer full, oldest first)")
        }
        if report.invalid > 0 {
            // Only what the check on the caller's thread cannot see gets here.
            invalidCount.add(Int(report.invalid))
            ConsentGateLogging.log(
                .warn,
                "consentgate: \(report.invalid) invalid recorded event(s) skipped by the core; first: \(report.firstInvalid ?? "?")")
        }
    }
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
    private let lock = Lock()
    private var value = 0

    /// The count now.
    var current: Int { lock.withLock { value } }

    /// Adds `n`.
    func add(_ n: Int) { lock.withLock { value += n } }
}
