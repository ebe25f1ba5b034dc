// The README's Swift snippets are compiled with the tests (swift-test.sh
// extracts them into Readme/); this checks that what was compiled is what the
// READMEs say now, so a README edited after the last extraction fails here.
import Foundation
import XCTest

final class ReadmeSnippetsTests: XCTestCase {
    /// The ```swift blocks of `file` (only the "iOS quick start" section of the root README).
    private func blocks(_ file: URL, section: String?) throws -> [String] {
        var inSection = section == nil, inBlock = false, current: [String] = [], found: [String] = []
        for line in try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n") {
            if let section, line.hasPrefix("## ") { inSection = line == section }
            guard inSection else { continue }
            if !inBlock, line.trimmingCharacters(in: .whitespaces) == "```swift" {
                inBlock = true
                current = []
            } else if inBlock, line.trimmingCharacters(in: .whitespaces) == "```" {
                inBlock = false
                found.append(current.filter { !$0.hasPrefix("import ") }.joined(separator: "\n"))
            } else if inBlock {
                current.append(line)
            }
        }
        return found
    }

    /// The text between `// BEGIN` and `// END` of every compiled snippet.
    private func compiled() throws -> [String] {
        let dir = repositoryRoot.appendingPathComponent("bindings-ios/Tests/ConsentGateTests/Readme")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }.sorted()
        return try files.map { name in
            let lines = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8).components(separatedBy: "\n")
            guard let begin = lines.firstIndex(of: "// BEGIN"), let end = lines.firstIndex(of: "// END") else {
                throw TestSetupError("\(name) has no BEGIN/END markers")
            }
            return lines[(begin + 1)..<end].joined(separator: "\n")
        }
    }

    func testTheIOSQuickStartOfTheReadmeIsCompiledAsWritten() throws {
        let quickStart = try blocks(repositoryRoot.appendingPathComponent("README.md"), section: "## iOS quick start")
        XCTAssertFalse(quickStart.isEmpty, "README.md has an iOS quick start with a swift block")
        XCTAssertLessThanOrEqual(quickStart[0].components(separatedBy: "\n").count, 12, "the quick start stays short")
        let compiled = try compiled()
        for block in quickStart { XCTAssertTrue(compiled.contains(block), "not compiled as written:\n\(block)") }
    }

    func testEverySwiftBlockOfThePackageReadmeIsCompiledAsWritten() throws {
        let readme = try blocks(repositoryRoot.appendingPathComponent("bindings-ios/README.md"), section: nil)
        let compiled = try compiled()
        for block in readme { XCTAssertTrue(compiled.contains(block), "not compiled as written:\n\(block)") }
    }
}
