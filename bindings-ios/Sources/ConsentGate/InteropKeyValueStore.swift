// The app's key-value store for the ecosystem's consent signals (issue 14):
// the `KeyValueStore` protocol, `UserDefaultsKeyValueStore` on
// `UserDefaults.standard` where ad SDKs read `IABTCF_*` / `IABGPP_*`, and the
// adapter to the core's callback interface, which also notices when another
// CMP changed the keys the core reads. Which keys are read or written, and
// what they mean, is decided by the core alone.
import Foundation
internal import ConsentGateFFI

/// One change the core makes to the key-value store.
public enum KeyValueChange: Sendable, Equatable, Hashable {
    /// Store the string `value` under `key`.
    case setString(key: String, value: String)
    /// Store the integer `value` under `key` (booleans as 0/1, as the IAB
    /// specifications say).
    case setInt(key: String, value: Int)
    /// Remove `key`.
    case remove(key: String)

    /// The key this change concerns.
    public var key: String {
        switch self {
        case let .setString(key, _), let .setInt(key, _), let .remove(key): return key
        }
    }
}

/// Where the `IABTCF_*` / `IABGPP_*` / `IABUSPrivacy_String` keys live:
/// on iOS `UserDefaults.standard` (`UserDefaultsKeyValueStore`), where the
/// IAB specifications tell every ad SDK to look. Implement it yourself only
/// to keep the keys elsewhere (a test, an App Group suite).
///
/// The core calls it while it holds its store lock, so that the keys follow
/// decisions in the order they were made: the methods must return promptly
/// and must not call the gate.
public protocol KeyValueStore: AnyObject, Sendable {
    /// The string stored under `key`; nil when absent or not a string.
    func string(forKey key: String) -> String?
    /// The integer stored under `key`; nil when absent or not a number.
    func integer(forKey key: String) -> Int?
    /// Applies every change, in order, before returning.
    func apply(_ changes: [KeyValueChange])
    /// Starts calling `handler` when the stored keys may have changed (from
    /// any writer; the gate works out whether a key it reads really did),
    /// until the returned observation is cancelled or released. The default
    /// observes nothing and returns nil: then call
    /// `ConsentGate.interopKeysChanged()` yourself after another CMP writes.
    func observeChanges(_ handler: @escaping @Sendable () -> Void) -> KeyValueObservation?
}

extension KeyValueStore {
    /// Observes nothing: this store reports no changes.
    public func observeChanges(_ handler: @escaping @Sendable () -> Void) -> KeyValueObservation? { nil }
}

/// A running observation of a `KeyValueStore`; it ends when cancelled or
/// released.
public final class KeyValueObservation: @unchecked Sendable {
    // @unchecked: `onCancel` is guarded by `lock`.
    private let lock = NSLock()
    private var onCancel: (@Sendable () -> Void)?

    /// An observation that runs `onCancel` once, when it ends.
    public init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = onCancel
    }

    deinit {
        cancel()
    }

    /// Ends the observation (again: nothing).
    public func cancel() {
        lock.lock()
        let run = onCancel
        onCancel = nil
        lock.unlock()
        run?()
    }
}

/// `KeyValueStore` on `UserDefaults`: `.standard` by default, which is where
/// Google UMP and every TCF vendor SDK read and write the IAB keys.
///
/// ```swift
/// try await gate.setKeyValueStore(UserDefaultsKeyValueStore())
/// ```
///
/// Changes are noticed through `UserDefaults.didChangeNotification`, which
/// iOS posts in the app's process whenever a default is set there (by
/// another CMP's SDK, for instance). Writes by another process (an app
/// extension sharing a suite) post nothing: call
/// `ConsentGate.interopKeysChanged()` when the app becomes active if
/// another process may write the keys. Reading and writing these defaults
/// is why the SDK's privacy manifest declares `CA92.1`.
public final class UserDefaultsKeyValueStore: KeyValueStore, @unchecked Sendable {
    // @unchecked: UserDefaults and NotificationCenter are thread-safe.
    /// The defaults the keys are read from and written to.
    public let defaults: UserDefaults
    private let notificationCenter: NotificationCenter

    /// A store on `defaults` (`UserDefaults.standard` unless you pass a
    /// suite), told of changes by `notificationCenter`.
    public init(defaults: UserDefaults = .standard, notificationCenter: NotificationCenter = .default) {
        self.defaults = defaults
        self.notificationCenter = notificationCenter
    }

    /// The value under `key` when it is a string.
    public func string(forKey key: String) -> String? {
        // Not `defaults.string(forKey:)`: it turns a number into a string.
        defaults.object(forKey: key) as? String
    }

    /// The value under `key` when it is a number (an integer or a boolean).
    public func integer(forKey key: String) -> Int? {
        switch defaults.object(forKey: key) {
        case let value as Int: return value
        case let value as Bool: return value ? 1 : 0
        case let value as NSNumber: return value.intValue
        default: return nil
        }
    }

    /// Sets and removes the keys, in order.
    public func apply(_ changes: [KeyValueChange]) {
        for change in changes {
            switch change {
            case let .setString(key, value): defaults.set(value, forKey: key)
            case let .setInt(key, value): defaults.set(value, forKey: key)
            case let .remove(key): defaults.removeObject(forKey: key)
            }
        }
    }

    /// Observes `UserDefaults.didChangeNotification` from any defaults
    /// object (a CMP may write through an instance of its own).
    public func observeChanges(_ handler: @escaping @Sendable () -> Void) -> KeyValueObservation? {
        let center = notificationCenter
        let token = ObserverToken(center.addObserver(
            forName: UserDefaults.didChangeNotification, object: nil, queue: nil
        ) { _ in handler() })
        return KeyValueObservation { center.removeObserver(token.value) }
    }
}

/// A NotificationCenter observer token, handed to the cancel closure.
private struct ObserverToken: @unchecked Sendable {
    // @unchecked: only passed to NotificationCenter.removeObserver, which is thread-safe.
    let value: any NSObjectProtocol
    init(_ value: any NSObjectProtocol) { self.value = value }
}

// MARK: - The adapter to the core's callback interface

/// The app's store as the core's `KeyValueStore`. It remembers the value it
/// last handed the core, or the core last wrote, for each key the core
/// touched: when the store reports a change, `keysChanged` runs (on
/// `queue`, coalesced) only if one of those keys now holds something else.
/// So the gate's own writes, and the app's unrelated defaults, never make
/// the core read again.
final class KeyValueStoreAdapter: ConsentGateFFI.KeyValueStore, @unchecked Sendable {
    // @unchecked: `seen`, `scheduled`, `rerun` and `observation` are guarded by `lock`.
    private enum Seen: Equatable {
        case string(String?)
        case int(Int?)
    }

    let store: any KeyValueStore
    private let queue: DispatchQueue
    private let keysChanged: @Sendable () -> Void
    private let lock = NSLock()
    private var seen: [String: Seen] = [:]
    private var scheduled = false
    private var rerun = false
    private var observation: KeyValueObservation?

    /// `keysChanged` is called on `queue`, never on the thread that posted
    /// the change (that may be the core's, inside its store lock).
    init(_ store: any KeyValueStore, queue: DispatchQueue, keysChanged: @escaping @Sendable () -> Void) {
        self.store = store
        self.queue = queue
        self.keysChanged = keysChanged
    }

    /// Starts listening to the store; the observation ends with the
    /// adapter (when the core lets go of it) or at `stop()`.
    func start() {
        let observation = store.observeChanges { [weak self] in self?.storeMayHaveChanged() }
        lock.lock()
        self.observation = observation
        lock.unlock()
    }

    /// Stops listening to the store.
    func stop() {
        lock.lock()
        let observation = self.observation
        self.observation = nil
        lock.unlock()
        observation?.cancel()
    }

    func getString(key: String) -> String? {
        let value = store.string(forKey: key)
        remember(key, .string(value))
        return value
    }

    func getInt(key: String) -> Int32? {
        let value = store.integer(forKey: key)
        remember(key, .int(value))
        // A number beyond Int32 is not one the IAB keys use: absent.
        return value.flatMap { Int32(exactly: $0) }
    }

    func write(changes: [KeyWrite]) {
        let mine = changes.map(KeyValueChange.init(ffi:))
        // Remembered first: the store may report the change while it is
        // being made, and it must not look like another CMP's.
        lock.lock()
        for change in mine {
            switch change {
            case let .setString(key, value): seen[key] = .string(value)
            case let .setInt(key, value): seen[key] = .int(value)
            case let .remove(key):
                switch seen[key] {
                case .int?: seen[key] = .int(nil)
                default: seen[key] = .string(nil)
                }
            }
        }
        lock.unlock()
        store.apply(mine)
    }

    private func remember(_ key: String, _ value: Seen) {
        lock.lock()
        seen[key] = value
        lock.unlock()
    }

    /// True when a key the core touched holds something else than it knows.
    private func differs() -> Bool {
        lock.lock()
        let known = seen
        lock.unlock()
        return known.contains { key, value in
            switch value {
            case let .string(s): return store.string(forKey: key) != s
            case let .int(i): return store.integer(forKey: key) != i
            }
        }
    }

    /// The store's change handler: schedules one `keysChanged` run, or one
    /// more after the run under way, when a key the core reads changed.
    func storeMayHaveChanged() {
        guard differs() else { return }
        lock.lock()
        if scheduled {
            rerun = true
            lock.unlock()
            return
        }
        scheduled = true
        lock.unlock()
        queue.async { [weak self] in self?.run() }
    }

    private func run() {
        while true {
            keysChanged()
            lock.lock()
            if rerun {
                rerun = false
                lock.unlock()
                continue
            }
            scheduled = false
            lock.unlock()
            return
        }
    }
}

extension KeyValueChange {
    init(ffi: KeyWrite) {
        switch ffi {
        case let .setString(key, value): self = .setString(key: key, value: value)
        case let .setInt(key, value): self = .setInt(key: key, value: Int(value))
        case let .remove(key): self = .remove(key: key)
        }
    }
}
