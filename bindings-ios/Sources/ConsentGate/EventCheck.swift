// The check recordEvent makes on the caller's thread, with the core's rules
// (CaptureRules: the name pattern, the name, size and depth limits), so an
// invalid event is refused at once with the reason instead of being queued
// and dropped later; and the encoder that turns event properties into the
// JSON object text the core takes, measuring what the check needs (depth,
// UTF-8 length). No rule is written down here: every number and the pattern
// come from the core at open. The core checks every event again when it
// crosses (record_captured) and stays the judge of last resort.
import Foundation
internal import ConsentGateFFI

/// Event properties as JSON object text, with the facts `EventCheck` needs to
/// judge them without parsing: the nesting depth (`{"a":1}` is 1, as the
/// core counts it) and the UTF-8 length. `bytes` is nil for no properties;
/// it becomes a `String` (`json`) only when it crosses to the core, on the
/// crossing's thread, not the recording one.
struct EncodedProperties: Sendable {
    let bytes: [UInt8]?
    let depth: Int
    let utf8Bytes: Int

    /// The JSON text, nil for no properties.
    var json: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// No properties: nothing to send, nothing to check.
    static let none = EncodedProperties(bytes: nil, depth: 0, utf8Bytes: 0)
}

/// A value that has no JSON form (a `Date`, NaN, a dictionary with non-string
/// keys…): `reason` says which, never the value itself.
struct UnencodableProperties: Error {
    let reason: String
}

/// Writes event properties as JSON. Only an encoder: whether the result is
/// acceptable (size, depth) is decided by `EventCheck` with the core's rules.
enum EventJSON {
    /// Guards against a structure that contains itself; far above any depth
    /// the core accepts, so it never decides whether an event is accepted.
    private static let maxNesting = 64

    /// `.none` for nil or empty properties.
    static func encode(_ properties: [String: Any]?) throws(UnencodableProperties) -> EncodedProperties {
        guard let properties, !properties.isEmpty else { return .none }
        var w = Writer()
        w.out.reserveCapacity(32 + properties.count * 24)
        try w.writeObject(properties, depth: 1)
        return EncodedProperties(bytes: w.out, depth: w.maxDepth, utf8Bytes: w.out.count)
    }

    /// Properties given as an `Encodable` value, through `JSONEncoder`: they
    /// must encode to a JSON object.
    static func encode<P: Encodable>(encodable properties: P) throws(UnencodableProperties) -> EncodedProperties {
        let data: Data
        do {
            data = try JSONEncoder().encode(properties)
        } catch {
            throw UnencodableProperties(reason: "event properties: JSONEncoder failed: \(error.localizedDescription)")
        }
        let bytes = [UInt8](data)
        guard bytes.first == UInt8(ascii: "{") else {
            throw UnencodableProperties(reason: "event properties must encode to a JSON object, not \(P.self)'s form")
        }
        if bytes.count == 2 { return .none }  // `{}`
        return EncodedProperties(
            bytes: bytes, depth: depthOf(bytes), utf8Bytes: bytes.count)
    }

    /// Deepest nesting of `{`/`[` outside strings: a measure of the encoded
    /// text (the limit it is held to is the core's).
    private static func depthOf(_ b: [UInt8]) -> Int {
        var depth = 0, maxDepth = 0, inString = false, escaped = false
        for c in b {
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                maxDepth = max(maxDepth, depth)
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth = max(0, depth - 1)
            default: break
            }
        }
        return maxDepth
    }

    /// One encoding: the bytes so far and the deepest level seen.
    private struct Writer {
        var out: [UInt8] = []
        var maxDepth = 0

        mutating func writeValue(_ value: Any, depth: Int) throws(UnencodableProperties) {
            // The common types first, by exact type: a dynamic cast from
            // `Any` costs tens of nanoseconds, a type comparison almost nothing.
            let t = ObjectIdentifier(type(of: value))
            if t == Self.stringType, let s = value as? String { return writeString(s) }
            if t == Self.intType, let i = value as? Int { return append(String(i)) }
            if t == Self.boolType, let b = value as? Bool { return append(b ? "true" : "false") }
            if t == Self.doubleType, let d = value as? Double { return try writeFloating(d) }
            switch value {
            case is NSNull: append("null")
            case let s as String: writeString(s)
            case let s as Substring: writeString(String(s))
            case let c as Character: writeString(String(c))
            default:
                if try writeNumber(value) { return }
                if let object = value as? [String: Any] {
                    try writeObject(object, depth: depth + 1)
                } else if let array = value as? [Any] {
                    try writeArray(array, depth: depth + 1)
                } else if value is [AnyHashable: Any] {
                    throw UnencodableProperties(reason: "event properties: dictionary keys must be strings")
                } else if let optional = value as? any OptionalProtocol {
                    // Optionals inside `Any` (a `[String: Any?]` value, `nil as String?`).
                    guard let wrapped = optional.wrappedAny else { return append("null") }
                    try writeValue(wrapped, depth: depth)
                } else {
                    throw UnencodableProperties(
                        reason: "event properties: a \(type(of: value)) cannot be written as JSON; "
                            + "use strings, numbers, booleans, NSNull, dictionaries with String keys and arrays")
                }
            }
        }

        private static let stringType = ObjectIdentifier(String.self)
        private static let intType = ObjectIdentifier(Int.self)
        private static let boolType = ObjectIdentifier(Bool.self)
        private static let doubleType = ObjectIdentifier(Double.self)

        /// Writes `value` when it is a number or a boolean; false otherwise.
        mutating func writeNumber(_ value: Any) throws(UnencodableProperties) -> Bool {
            // Exact Swift types first: on Apple platforms `Any` holding an
            // NSNumber also casts to Bool and Int, so those are told apart below.
            switch value {
            case let b as Bool where type(of: value) == Bool.self: append(b ? "true" : "false")
            case let i as Int where type(of: value) == Int.self: append(String(i))
            case let i as Int64 where type(of: value) == Int64.self: append(String(i))
            case let i as Int32 where type(of: value) == Int32.self: append(String(i))
            case let i as Int16 where type(of: value) == Int16.self: append(String(i))
            case let i as Int8 where type(of: value) == Int8.self: append(String(i))
            case let i as UInt where type(of: value) == UInt.self: append(String(i))
            case let i as UInt64 where type(of: value) == UInt64.self: append(String(i))
            case let i as UInt32 where type(of: value) == UInt32.self: append(String(i))
            case let i as UInt16 where type(of: value) == UInt16.self: append(String(i))
            case let i as UInt8 where type(of: value) == UInt8.self: append(String(i))
            case let d as Double where type(of: value) == Double.self: try writeFloating(d)
            case let f as Float where type(of: value) == Float.self: try writeFloating(Double(f))
            case let d as Decimal:
                guard !d.isNaN else { throw UnencodableProperties(reason: "event properties: NaN has no JSON form") }
                append(d.description)
            case let n as NSNumber:
                let type = String(cString: n.objCType)
                if type == "c" || type == "B" {
                    append(n.boolValue ? "true" : "false")
                } else if type == "d" || type == "f" {
                    try writeFloating(n.doubleValue)
                } else if type == "Q" || type == "L" || type == "I" || type == "S" || type == "C" {
                    append(String(n.uint64Value))
                } else {
                    append(String(n.int64Value))
                }
            default:
                return false
            }
            return true
        }

        mutating func writeFloating(_ d: Double) throws(UnencodableProperties) {
            guard d.isFinite else { throw UnencodableProperties(reason: "event properties: \(d) has no JSON form") }
            // Whole numbers keep their integer spelling (3, not 3.0) when exact.
            if d == d.rounded(), abs(d) < 1e15 { append(String(Int64(d))) } else { append(String(d)) }
        }

        mutating func writeObject(_ object: [String: Any], depth: Int) throws(UnencodableProperties) {
            try enter(depth)
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, value) in object {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key)
                out.append(UInt8(ascii: ":"))
                try writeValue(value, depth: depth)
            }
            out.append(UInt8(ascii: "}"))
        }

        mutating func writeArray(_ array: [Any], depth: Int) throws(UnencodableProperties) {
            try enter(depth)
            out.append(UInt8(ascii: "["))
            var first = true
            for item in array {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                try writeValue(item, depth: depth)
            }
            out.append(UInt8(ascii: "]"))
        }

        mutating func enter(_ depth: Int) throws(UnencodableProperties) {
            guard depth <= EventJSON.maxNesting else {
                throw UnencodableProperties(reason: "event properties nest more than \(EventJSON.maxNesting) levels")
            }
            maxDepth = max(maxDepth, depth)
        }

        mutating func append(_ s: String) { out.append(contentsOf: s.utf8) }

        private static let hex = Array("0123456789abcdef".utf8)

        mutating func writeString(_ s: String) {
            out.append(UInt8(ascii: "\""))
            // Swift strings are valid Unicode: no lone surrogate can reach here.
            for byte in s.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0..<0x20:
                    out.append(contentsOf: Array("\\u00".utf8))
                    out.append(Writer.hex[Int(byte >> 4)])
                    out.append(Writer.hex[Int(byte & 0xF)])
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
    }
}

/// Lets the encoder see through an `Optional` stored in an `Any`.
protocol OptionalProtocol {
    /// The wrapped value, or nil.
    var wrappedAny: Any? { get }
}

extension Optional: OptionalProtocol {
    var wrappedAny: Any? {
        switch self {
        case let .some(v): return v
        case .none: return nil
        }
    }
}

/// Judges event names and encoded properties by the core's `CaptureRules`.
final class EventCheck: @unchecked Sendable {
    private let pattern: NSRegularExpression
    private let patternText: String
    private let maxNameBytes: Int
    private let maxPropertiesBytes: Int
    private let maxDepth: Int

    /// What the core charges a record besides the UTF-8 bytes of its name and properties.
    let recordOverheadBytes: Int

    /// Names found valid. Apps record a handful of names over and over;
    /// matching the same string again would only repeat the answer.
    private let lock = Lock()
    private var validNames: Set<String> = []
    private static let maxRememberedNames = 256

    /// The check for `rules`; throws when the core's pattern is not one
    /// NSRegularExpression reads (a bug: reported as `.internal`).
    init(rules: CaptureRules) throws(ConsentGateError) {
        do {
            pattern = try NSRegularExpression(pattern: rules.namePattern)
        } catch {
            throw .internal(detail: "the core's event name pattern \(rules.namePattern) is not a valid NSRegularExpression")
        }
        patternText = rules.namePattern
        maxNameBytes = Int(clamping: rules.maxNameBytes)
        maxPropertiesBytes = Int(clamping: rules.maxPropertiesBytes)
        maxDepth = Int(clamping: rules.maxPropertiesDepth)
        recordOverheadBytes = Int(clamping: min(max(rules.recordOverheadBytes, 0), 1024))
    }

    /// Why `name` or `properties` would be refused by the core, or nil when
    /// both are fine. The reason names the rule and the measure, never the payload.
    func problem(name: String, properties: EncodedProperties) -> String? {
        nameProblem(name) ?? propertiesProblem(properties)
    }

    private func nameProblem(_ name: String) -> String? {
        if lock.withLock({ validNames.contains(name) }) { return nil }
        if name.isEmpty { return "event name is empty" }
        let bytes = name.utf8.count
        if bytes > maxNameBytes { return "event name is \(bytes) bytes long; the limit is \(maxNameBytes)" }
        let whole = NSRange(name.startIndex..<name.endIndex, in: name)
        guard let match = pattern.firstMatch(in: name, options: [], range: whole), match.range == whole else {
            return "event name does not match \(patternText)"
        }
        lock.withLock {
            if validNames.count >= EventCheck.maxRememberedNames { validNames.removeAll(keepingCapacity: true) }
            validNames.insert(name)
        }
        return nil
    }

    private func propertiesProblem(_ p: EncodedProperties) -> String? {
        guard p.bytes != nil else { return nil }
        if p.utf8Bytes > maxPropertiesBytes {
            return "event properties are \(p.utf8Bytes) bytes of JSON; the limit is \(maxPropertiesBytes)"
        }
        if p.depth > maxDepth { return "event properties are nested \(p.depth) levels deep; the limit is \(maxDepth)" }
        return nil
    }
}
