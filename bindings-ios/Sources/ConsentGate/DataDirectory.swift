// Where the gate keeps its store on the device: the default data directory
// in Application Support, created when missing and excluded from backups,
// so that restoring a backup never brings back a grant the user has since
// withdrawn. Files only; no consent rule here.
import Foundation

/// The directory that holds the gate's store (its SQLite database and
/// lock file).
///
/// ```swift
/// let dir = try DataDirectory.default()   // …/Library/Application Support/consentgate
/// ```
///
/// Why not Documents or Caches: Documents is shown in the Files app and
/// backed up; Caches may be purged by the system, which would lose the
/// consent ledger. Application Support is private to the app and kept.
///
/// Why excluded from backup: an iCloud or Finder backup restored later, or
/// onto a new device, would bring back grants the user has withdrawn since,
/// together with the head marker that vouches for them; the core could not
/// tell the restored store from the real one, and events queued under those
/// grants would be sent. Excluded, a restored device starts fail-closed and
/// asks again. The mark is set again on every call (it is cheap), because
/// copying or migrating the app's container can drop it.
public enum DataDirectory {
    /// The subdirectory of Application Support the gate uses by default.
    public static let defaultName = "consentgate"

    /// `Application Support/consentgate` of the app (on Linux,
    /// `$XDG_DATA_HOME/consentgate`, usually `~/.local/share/consentgate`),
    /// created with its parents when missing and marked excluded from backup.
    ///
    /// - Throws: `DataDirectoryError` naming the path and what failed.
    public static func `default`(fileManager: FileManager = .default) throws -> URL {
        let support: URL
        do {
            support = try fileManager.url(
                for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        } catch {
            throw DataDirectoryError(
                path: "Application Support", operation: "locate or create",
                reason: error.localizedDescription)
        }
        return try prepare(support.appendingPathComponent(defaultName, isDirectory: true), fileManager: fileManager)
    }

    /// Makes `directory` ready for a gate: created with its parents when
    /// missing, marked excluded from backup, and returned. Use it for a data
    /// directory of your own choosing (an App Group container, a per-user
    /// folder); `default()` calls it.
    ///
    /// - Throws: `DataDirectoryError` when the path exists and is not a
    ///   directory, or it cannot be created or marked.
    @discardableResult
    public static func prepare(_ directory: URL, fileManager: FileManager = .default) throws -> URL {
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw DataDirectoryError(
                    path: directory.path, operation: "use",
                    reason: "a file that is not a directory is in the way")
            }
        } else {
            do {
                try fileManager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: directoryAttributes)
            } catch {
                throw DataDirectoryError(path: directory.path, operation: "create", reason: error.localizedDescription)
            }
        }
        try excludeFromBackup(directory)
        return directory
    }

    /// Whether `directory` is marked excluded from backup; nil where the
    /// platform keeps no such mark (Linux).
    public static func isExcludedFromBackup(_ directory: URL) -> Bool? {
        // A fresh URL: resource values are cached per URL instance.
        let fresh = URL(fileURLWithPath: directory.path, isDirectory: true)
        return (try? fresh.resourceValues(forKeys: [.isExcludedFromBackupKey]))?.isExcludedFromBackup
    }

    /// Sets `isExcludedFromBackup` on the directory itself: on Apple
    /// platforms the mark covers everything inside it, including files the
    /// core creates later. Where the platform has no backup mark (Linux)
    /// Foundation accepts the value and keeps nothing, which is fine: there is
    /// no device backup to leave out.
    private static func excludeFromBackup(_ directory: URL) throws {
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        var url = directory
        do {
            try url.setResourceValues(values)
        } catch {
            throw DataDirectoryError(
                path: directory.path, operation: "exclude from backup", reason: error.localizedDescription)
        }
    }

    /// On iOS, files stay readable after the first unlock, so a background
    /// flush (`BGTaskScheduler`) can open the store while the device is
    /// locked; `.complete` protection would make that fail.
    private static var directoryAttributes: [FileAttributeKey: Any]? {
        #if os(iOS) || os(tvOS) || os(watchOS) || os(visionOS)
        return [.protectionKey: FileProtectionType.completeUntilFirstUserAuthentication]
        #else
        return nil
        #endif
    }
}

/// The data directory could not be prepared.
public struct DataDirectoryError: Error, LocalizedError, Equatable, Sendable {
    /// The directory concerned.
    public var path: String
    /// What was being done: `create`, `exclude from backup`, …
    public var operation: String
    /// What the file system said.
    public var reason: String

    /// A sentence naming the path, the operation and the reason.
    public var errorDescription: String? {
        "consentgate could not \(operation) its data directory \(path): \(reason)"
    }
}
