// Consent inside web views (issue 16.4), the portable part: which script a
// web view gets at document start and what it evaluates when consent changes,
// behind `ConsentWebViewHost` (WKWebView in WebViewWebKit.swift, a fake in
// the tests). The scripts are the core's (`webview_user_script`,
// `webview_update_script`), built from the core's state with a secret nonce
// that never reaches the page; nothing here reads or decides consent.
import Foundation
internal import ConsentGateFFI

/// A web view the gate's script is installed in. `WebKitConsentHost` is the
/// one for `WKWebView`; implement it for another web view. The bridge may
/// call it from any thread, in order; an implementation moves the calls to
/// the thread its web view needs (for WebKit, the main thread), keeping the
/// order.
public protocol ConsentWebViewHost: AnyObject, Sendable {
    /// From now on, run `source` at document start of every page (main frame),
    /// instead of the source given before.
    func setDocumentStartScript(_ source: String)
    /// Evaluates `script` in the page shown now.
    func evaluate(_ script: String)
}

/// Keeps a web view's `window.consentgate` (and, with an `interop` block,
/// `__tcfapi` / `__gpp`) in step with the gate: the document-start script
/// carries the state in force, and every change of state is evaluated in
/// the page. Page scripts read decisions and are told when they change; they
/// cannot change them: nothing they do reaches the gate, and only this
/// bridge knows the nonce that lets a new state in.
///
/// Made by `ConsentGate.webViewBridge(host:)`; keep it as long as the web
/// view, and call `stop()` (or release it) when the web view goes away.
public final class ConsentWebViewBridge: @unchecked Sendable {
    // @unchecked: `lastVersion`, `sentOnce` and `task` are guarded by `lock`
    // (held for a whole push, so the host gets the states in the order they
    // were read); the rest is immutable.
    private let host: any ConsentWebViewHost
    private let nonce: String
    private let currentState: @Sendable () -> ConsentGateFFI.ConsentState?
    private let lock = NSLock()
    private var lastVersion: Int64?
    private var sentOnce = false
    private var task: Task<Void, Never>?

    /// A bridge that reads the state with `currentState` (the core's, with
    /// its interop view; nil while the gate loads) and is woken by `changes`.
    init<Changes: AsyncSequence & Sendable>(
        host: any ConsentWebViewHost,
        nonce: String = ConsentWebViewBridge.makeNonce(),
        currentState: @escaping @Sendable () -> ConsentGateFFI.ConsentState?,
        changes: Changes
    ) where Changes.Element: Sendable {
        self.host = host
        self.nonce = nonce
        self.currentState = currentState
        push(installing: true)
        let task = Task { [weak self] in
            do {
                for try await _ in changes {
                    guard let self else { return }
                    self.push(installing: true)
                }
            } catch {
                // The stream ended with the gate; nothing more to push.
            }
        }
        lock.lock()
        self.task = task
        lock.unlock()
    }

    deinit {
        task?.cancel()
    }

    /// Stops following the gate. The page keeps the last state it was given.
    public func stop() {
        lock.lock()
        let task = self.task
        self.task = nil
        lock.unlock()
        task?.cancel()
    }

    /// The page asked for the state (the host's message handler: a page
    /// that started loading while the state changed may have missed the
    /// update). Evaluates the state in force; what the page sent is never
    /// read.
    public func pageRequestedState() {
        push(installing: false, force: true)
    }

    /// Sends the state in force: as the new document-start script when
    /// `installing`, and evaluated in the page, unless the page already has
    /// this version (and `force` is off).
    private func push(installing: Bool, force: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        let state = currentState()
        let version = state?.version
        let fresh = lastVersion != version || !sentOnce
        lastVersion = version
        sentOnce = true
        guard fresh || force else { return }
        guard let state else {
            // Loading: the shipped script with no state yet, fail-closed
            // (every category blocked) until the first real state arrives.
            if installing {
                host.setDocumentStartScript(
                    "\(webviewScript().trimmingCharacters(in: .whitespacesAndNewlines))(\"\(nonce)\",null);\n" + Self.askOnLoad)
            }
            return
        }
        // The core refuses only a malformed nonce, and makeNonce's never is;
        // were it refused, the page would keep what it has (at worst the
        // fail-closed start), never a state the core did not build.
        if installing, let script = try? webviewUserScript(nonce: nonce, state: state) {
            host.setDocumentStartScript(script + Self.askOnLoad)
        }
        if let update = try? webviewUpdateScript(nonce: nonce, state: state) {
            host.evaluate(update)
        }
    }

    /// Appended to the document-start script: asks the host (the
    /// `consentgate` message handler) for the state in force once the page
    /// has its `window.consentgate`. Sends nothing the host reads.
    static let askOnLoad = """
        (function(){try{var h=window.webkit&&window.webkit.messageHandlers&&window.webkit.messageHandlers.\(messageHandlerName);if(h){h.postMessage("state");}}catch(e){}})();

        """

    /// The name of the message handler the document-start script calls.
    public static let messageHandlerName = "consentgate"

    /// A fresh secret: 32 characters of `A-Z a-z 0-9`, from the system's
    /// random generator.
    static func makeNonce() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
