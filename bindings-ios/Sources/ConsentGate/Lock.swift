// A small mutual-exclusion lock for the state the gate shares between
// threads (the mirrored consent state, the event buffer, the open's
// outcome): os_unfair_lock on Apple platforms, a pthread mutex elsewhere.
// Cheaper than NSLock on the paths `allows` and `recordEvent` take, and
// usable from iOS 15 (Synchronization.Mutex needs iOS 18).
import Foundation
#if canImport(os)
import os
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A non-recursive lock. Never held across a call into app code.
final class Lock: @unchecked Sendable {
    #if canImport(os)
    private let raw: UnsafeMutablePointer<os_unfair_lock>
    #else
    private let raw: UnsafeMutablePointer<pthread_mutex_t>
    #endif

    init() {
        #if canImport(os)
        raw = .allocate(capacity: 1)
        raw.initialize(to: os_unfair_lock())
        #else
        raw = .allocate(capacity: 1)
        raw.initialize(to: pthread_mutex_t())
        pthread_mutex_init(raw, nil)
        #endif
    }

    deinit {
        #if !canImport(os)
        pthread_mutex_destroy(raw)
        #endif
        raw.deinitialize(count: 1)
        raw.deallocate()
    }

    /// Runs `body` with the lock held.
    @inline(__always)
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        #if canImport(os)
        os_unfair_lock_lock(raw)
        defer { os_unfair_lock_unlock(raw) }
        #else
        pthread_mutex_lock(raw)
        defer { pthread_mutex_unlock(raw) }
        #endif
        return try body()
    }
}
