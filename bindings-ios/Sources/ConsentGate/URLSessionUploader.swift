// The default Uploader: URLSession (FoundationNetworking on Linux), sending
// the core's requests byte for byte. It decides nothing about what is sent
// or when; the core does.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Sends the core's requests with `URLSession`. The core has built
/// everything: method, URL, headers (content type, `Content-Encoding: gzip`,
/// user agent, idempotency key) and the gzip body, which goes out as it is.
///
/// ```swift
/// let report = try await gate.flush(using: URLSessionUploader())
/// ```
///
/// Its session stores no cookies, uses no cache and follows no redirect (a
/// redirect would send the body somewhere the policy does not name; the core
/// treats the 3xx as a reply to retry). Failures to connect or read become
/// `.networkError`, never errors. It is called on a background thread and
/// blocks it for the request.
public final class URLSessionUploader: Uploader, @unchecked Sendable {
    // @unchecked: every stored property is immutable; URLSession is thread-safe.
    private let session: URLSession
    private let maxReplyBytes: Int

    /// An uploader with its own ephemeral session.
    /// - Parameters:
    ///   - timeout: the request timeout (connect and each read), in seconds.
    ///   - maxReplyBytes: the longest reply body kept (deletion receipts are small).
    public init(timeout: TimeInterval = 30, maxReplyBytes: Int = 64 * 1024) {
        let config = URLSessionConfiguration.ephemeral
        config.httpCookieAcceptPolicy = .never
        config.httpShouldSetCookies = false
        config.httpCookieStorage = nil
        config.urlCache = nil
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.timeoutIntervalForRequest = timeout
        session = URLSession(configuration: config, delegate: NoRedirects(), delegateQueue: nil)
        self.maxReplyBytes = maxReplyBytes
    }

    deinit {
        session.finishTasksAndInvalidate()
    }

    /// Sends `request` and waits for the reply.
    public func send(_ request: UploadRequest) -> UploadResult {
        var r = URLRequest(url: request.url)
        r.httpMethod = request.method
        for h in request.headers { r.setValue(h.value, forHTTPHeaderField: h.name) }
        r.httpBody = request.body
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: r) { data, response, error in
            outcome.set(self.result(data: data, response: response, error: error))
            done.signal()
        }
        task.resume()
        done.wait()
        return outcome.get() ?? .networkError(message: "URLSession ended without a reply")
    }

    private func result(data: Data?, response: URLResponse?, error: (any Error)?) -> UploadResult {
        if let error { return .networkError(message: "\(type(of: error)): \(error.localizedDescription)") }
        guard let http = response as? HTTPURLResponse else {
            return .networkError(message: "the reply was not HTTP")
        }
        let retryAfter = URLSessionUploader.parseRetryAfter(http.value(forHTTPHeaderField: "Retry-After"))
        let body = data.map { String(decoding: $0.prefix(maxReplyBytes), as: UTF8.self) }
        return .http(status: http.statusCode, retryAfterSeconds: retryAfter, body: body)
    }

    /// `Retry-After` as delta-seconds or an HTTP date; nil when absent or unreadable.
    static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Int64? {
        guard let v = value?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
        if let s = Int64(v) { return s >= 0 ? s : nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let at = f.date(from: v) else { return nil }
        return Int64(max(0, at.timeIntervalSince(now)))
    }

    /// The reply, handed from URLSession's queue to the waiting thread.
    private final class Outcome: @unchecked Sendable {
        private let lock = Lock()
        private var value: UploadResult?
        func set(_ v: UploadResult) { lock.withLock { value = v } }
        func get() -> UploadResult? { lock.withLock { value } }
    }

    /// Refuses every redirect: the 3xx itself is the reply.
    private final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
        func urlSession(
            _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
            newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
        ) {
            completionHandler(nil)
        }
    }
}
