// URLSession (FoundationNetworking on Linux) against the reference collector on
// 127.0.0.1, and the core's foreign `Uploader` trait implemented in Swift: what
// the wrapper's URLSessionUploader will rely on, checked on this toolchain.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

import ConsentGateFFI

final class LoopbackHTTPTests: XCTestCase {
    func testURLSessionDataTaskReachesTheLoopbackCollector() throws {
        let collector = try CollectorProcess(directory: makeDataDirectory(for: self), testCase: self)
        let answered = expectation(description: "GET /healthz answered")
        let outcome = Box<(Int, String)?>(nil)
        let task = URLSession.shared.dataTask(with: collector.baseURL.appendingPathComponent("healthz")) {
            data, response, error in
            outcome.value = ((response as? HTTPURLResponse)?.statusCode ?? -1,
                             error.map { "error: \($0)" } ?? String(decoding: data ?? Data(), as: UTF8.self))
            answered.fulfill()
        }
        task.resume()
        wait(for: [answered], timeout: 10)
        XCTAssertEqual(outcome.value?.0, 200)
        XCTAssertEqual(outcome.value?.1.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }

    func testURLSessionAsyncDataReachesTheLoopbackCollector() async throws {
        let collector = try CollectorProcess(directory: makeDataDirectory(for: self), testCase: self)
        let (status, stats) = try await collector.getJSON("v1/stats")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(stats["events"] as? Int, 0)
        XCTAssertEqual(stats["batches"] as? Int, 0)
    }

    func testFlushThroughASwiftUploaderDeliversEveryEventToTheCollector() async throws {
        let dir = try makeDataDirectory(for: self)
        let collector = try CollectorProcess(directory: dir, testCase: self)
        let policy = try editedPolicyJSON { policy in
            policy["endpoints"] = [["id": "local", "url": collector.baseURL.absoluteString, "regions": ["KZ"]]]
        }
        let gate = try openGate(dataDir: dir.appendingPathComponent("gate"), policyJSON: policy)
        defer { try? gate.close() }
        _ = try gate.setConsent(decisions: [PurposeDecision(purpose: "analytics", granted: true)], source: .banner)
        for screen in ["home", "map", "settings"] {
            _ = try gate.recordEvent(name: "screen_view", propertiesJson: #"{"screen":"\#(screen)"}"#)
        }

        // `flush` calls `Uploader.send` synchronously on the calling thread, so it
        // runs on a thread of its own, never on the Swift concurrency pool.
        let uploader = BlockingURLSessionUploader()
        let report = try await onOwnThread { try gate.flush(uploader: uploader) }

        XCTAssertEqual(report.eventsDelivered, 3)
        XCTAssertEqual(report.batchesDelivered, 1)
        XCTAssertEqual(report.eventsRejected, 0)
        XCTAssertEqual(uploader.sentHeaders.first?["Content-Encoding"], "gzip")
        let (status, installation) = try await collector.getJSON("v1/installations/\(gate.installationId())")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(installation["events"] as? Int, 3)
        XCTAssertEqual(installation["batches"] as? Int, 1)
        XCTAssertEqual(gate.queueStats().events, 0)
    }
}

/// Test-only `Uploader`: sends each request with URLSession and blocks the
/// calling (core) thread until the answer arrives. Not the wrapper's
/// URLSessionUploader, which belongs to the ConsentGate target.
final class BlockingURLSessionUploader: Uploader, @unchecked Sendable {
    private let lock = NSLock()
    private var headersSeen: [[String: String]] = []

    /// The headers of every request sent, in order.
    var sentHeaders: [[String: String]] {
        lock.lock()
        defer { lock.unlock() }
        return headersSeen
    }

    func send(request: UploadRequest) -> UploadResult {
        guard let url = URL(string: request.url) else {
            return .networkError(message: "not a URL: \(request.url)")
        }
        var urlRequest = URLRequest(url: url, timeoutInterval: 10)
        urlRequest.httpMethod = request.method
        urlRequest.httpBody = request.body
        var headers: [String: String] = [:]
        for header in request.headers {
            urlRequest.setValue(header.value, forHTTPHeaderField: header.name)
            headers[header.name] = header.value
        }
        lock.lock()
        headersSeen.append(headers)
        lock.unlock()

        let done = DispatchSemaphore(value: 0)
        let result = Box<UploadResult>(.networkError(message: "no answer"))
        URLSession.shared.dataTask(with: urlRequest) { data, response, error in
            if let error {
                result.value = .networkError(message: error.localizedDescription)
            } else if let http = response as? HTTPURLResponse {
                let retryAfter = http.value(forHTTPHeaderField: "Retry-After").flatMap(Int64.init)
                result.value = .http(status: Int32(clamping: http.statusCode), retryAfterS: retryAfter,
                                     body: data.map { String(decoding: $0, as: UTF8.self) })
            }
            done.signal()
        }.resume()
        done.wait()
        return result.value
    }
}

/// A value shared between a test and a callback on another thread.
final class Box<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

/// Runs blocking `work` on a new thread and resumes with its result.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
