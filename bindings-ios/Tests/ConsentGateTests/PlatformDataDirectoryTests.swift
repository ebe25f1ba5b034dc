// The default data directory (DataDirectory): where it is, that it is
// created when missing and kept when present, that a file in the way is a
// clear error, and the backup mark where the platform keeps one.
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

import ConsentGate

final class PlatformDataDirectoryTests: XCTestCase {
    /// A fresh temporary directory, removed at teardown.
    private func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("consentgate-dd-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Runs `body` with Application Support pointing into `home` (Linux
    /// Foundation reads `XDG_DATA_HOME` on every lookup), then restores it.
    private func withApplicationSupport<T>(in home: URL, _ body: () throws -> T) rethrows -> T {
        let saved = ProcessInfo.processInfo.environment["XDG_DATA_HOME"]
        setenv("XDG_DATA_HOME", home.path, 1)
        defer {
            if let saved { setenv("XDG_DATA_HOME", saved, 1) } else { unsetenv("XDG_DATA_HOME") }
        }
        return try body()
    }

    func testDefaultDataDirectoryIsConsentgateInApplicationSupportAndIsCreated() throws {
        let home = try scratch()
        try withApplicationSupport(in: home) {
            let support = try FileManager.default.url(
                for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: false)
            let dir = try DataDirectory.default()
            XCTAssertEqual(dir.lastPathComponent, "consentgate")
            XCTAssertEqual(dir.deletingLastPathComponent().standardizedFileURL.path, support.standardizedFileURL.path)
            var isDirectory: ObjCBool = false
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDirectory))
            XCTAssertTrue(isDirectory.boolValue, "\(dir.path) is not a directory")
        }
    }

    func testPrepareCreatesMissingParentsAndKeepsWhatIsAlreadyThere() throws {
        let dir = try scratch().appendingPathComponent("a/b/consentgate", isDirectory: true)
        XCTAssertEqual(try DataDirectory.prepare(dir), dir)
        let store = dir.appendingPathComponent("store.sqlite")
        try Data("the store".utf8).write(to: store)
        // A second open of the app prepares the same directory again: the
        // store in it must survive.
        try DataDirectory.prepare(dir)
        XCTAssertEqual(try Data(contentsOf: store), Data("the store".utf8))
    }

    func testPrepareRefusesAFileInTheWayNamingThePath() throws {
        let path = try scratch().appendingPathComponent("consentgate")
        try Data().write(to: path)
        XCTAssertThrowsError(try DataDirectory.prepare(path)) { error in
            let description = (error as? LocalizedError)?.errorDescription ?? ""
            XCTAssertTrue(description.contains(path.path), description)
            XCTAssertTrue(description.contains("not a directory"), description)
        }
        // Nothing was replaced.
        var isDirectory: ObjCBool = true
        XCTAssertTrue(FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory))
        XCTAssertFalse(isDirectory.boolValue)
    }

    func testPreparedDirectoryIsExcludedFromBackupWhereThePlatformKeepsTheMark() throws {
        let dir = try DataDirectory.prepare(try scratch().appendingPathComponent("consentgate"))
        #if canImport(Darwin)
        XCTAssertEqual(DataDirectory.isExcludedFromBackup(dir), true,
                       "a restored backup would bring back withdrawn grants")
        #else
        // Linux Foundation accepts the resource value and keeps nothing: the
        // mark reads back as unknown, never as "included".
        XCTAssertNotEqual(DataDirectory.isExcludedFromBackup(dir), false)
        #endif
    }
}
