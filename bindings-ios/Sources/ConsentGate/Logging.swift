// Where consentgate's log lines go: the core's (through its Logger callback)
// and the Swift layer's own, to one sink the app chooses: `os.Logger` on
// Apple platforms by default once forwarding is asked for, `print` on Linux.
// Nothing here decides what is logged; the core never puts payloads,
// identifiers or device values in lines above trace, and neither does this layer.
import Foundation
internal import ConsentGateFFI
#if canImport(os)
import os
#endif

/// How severe a log line is, most severe first.
public enum LogLevel: Int, Sendable, Equatable, Hashable, Comparable, Codable, CaseIterable {
    /// Something failed; consent is unchanged.
    case error = 0
    /// Something unexpected the app may want to know about.
    case warn
    /// The gate's life: open, consent changes, deliveries.
    case info
    /// Details for debugging.
    case debug
    /// Everything (may include payload sizes, never payloads above this level).
    case trace

    /// `error` < `warn` < … < `trace`: a sink at `info` receives `error`, `warn` and `info`.
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// Where consentgate's own log lines go. Process-wide; the last call wins.
///
/// ```swift
/// ConsentGateLogging.forwardToSystemLog(maxLevel: .info)      // os.Logger (print on Linux)
/// ConsentGateLogging.forward(maxLevel: .debug) { level, target, message in print(level, message) }
/// ```
///
/// Set it before `ConsentGate.open` to see the open's lines. Lines can
/// arrive on any thread, the core's writer thread included. A sink must not
/// call back into the gate.
public enum ConsentGateLogging {
    /// A log sink: level, target (`consentgate::…`), message.
    public typealias Sink = @Sendable (_ level: LogLevel, _ target: String, _ message: String) -> Void

    private static let lock = Lock()
    // Guarded by `lock`.
    nonisolated(unsafe) private static var bridge: Bridge?

    /// Sends lines at `maxLevel` and more severe to `sink`.
    public static func forward(maxLevel: LogLevel = .info, to sink: @escaping Sink) {
        let b = Bridge(sink: sink, maxLevel: maxLevel)
        lock.withLock { bridge = b }
        ConsentGateFFI.setLogger(logger: b, maxLevel: Convert.level(maxLevel))
    }

    /// Sends lines to the system log: `os.Logger` (subsystem `dev.consentgate`)
    /// on Apple platforms, standard output elsewhere.
    public static func forwardToSystemLog(maxLevel: LogLevel = .info) {
        #if canImport(os)
        let logger = os.Logger(subsystem: "dev.consentgate", category: "consentgate")
        forward(maxLevel: maxLevel) { level, target, message in
            switch level {
            case .error: logger.error("\(target, privacy: .public): \(message, privacy: .public)")
            case .warn: logger.warning("\(target, privacy: .public): \(message, privacy: .public)")
            case .info: logger.info("\(target, privacy: .public): \(message, privacy: .public)")
            case .debug, .trace: logger.debug("\(target, privacy: .public): \(message, privacy: .public)")
            }
        }
        #else
        forward(maxLevel: maxLevel) { level, target, message in print("[\(level)] \(target): \(message)") }
        #endif
    }

    /// Stops forwarding: lines are dropped (the core's default).
    public static func stop() {
        forward(maxLevel: .error) { _, _, _ in }
        lock.withLock { bridge = nil }
    }

    /// A line from the Swift layer (target `consentgate::swift`), through the same
    /// sink and level as the core's. No payload, identifier or device value in `message`.
    static func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard let b = lock.withLock({ bridge }), level <= b.maxLevel else { return }
        b.sink(level, "consentgate::swift", message())
    }

    /// The app's sink as the core's `Logger`.
    private final class Bridge: ConsentGateFFI.Logger, @unchecked Sendable {
        let sink: Sink
        let maxLevel: LogLevel
        init(sink: @escaping Sink, maxLevel: LogLevel) {
            self.sink = sink
            self.maxLevel = maxLevel
        }

        func log(level: ConsentGateFFI.LogLevel, target: String, message: String) {
            sink(Convert.level(level), target, message)
        }
    }
}
