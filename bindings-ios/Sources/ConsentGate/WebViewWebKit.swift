// Consent inside a WKWebView (issue 16.4), the WebKit glue: the core's script
// as a WKUserScript at document start (replaced on every change, so a new
// page starts from the state in force), `evaluateJavaScript` of the update on
// every change, and a message handler by which a loading page asks for the
// state again. The page can read decisions, never change them: the handler
// reads nothing the page sends. Compiles only where WebKit exists; what is
// installed and evaluated when is WebViewBridge.swift's, tested on Linux.
#if canImport(WebKit)
import Foundation
import WebKit

/// `ConsentWebViewHost` for a `WKWebView`; `ConsentGate.attach(to:)` makes one:
///
/// ```swift
/// let webView = WKWebView(frame: .zero)
/// let bridge = gate.attach(to: webView)   // keep it as long as the web view
/// webView.load(URLRequest(url: url))
/// ```
@MainActor
public final class WebKitConsentHost: ConsentWebViewHost {
    private weak var webView: WKWebView?
    private let controller: WKUserContentController
    private var installed: WKUserScript?
    private var handler: MessageHandler?
    private var installedSeq = 0
    private nonisolated let sequence = Sequence()

    /// A host for `webView` (its configuration's user content controller).
    public init(webView: WKWebView) {
        self.webView = webView
        self.controller = webView.configuration.userContentController
    }

    /// Replaces the gate's document-start script, keeping the app's own
    /// user scripts (WebKit can only remove all of them at once). On the
    /// main thread at once (a bridge made there installs before the first page
    /// loads); from elsewhere on the main queue, and a script older than the
    /// one installed is dropped.
    public nonisolated func setDocumentStartScript(_ source: String) {
        let seq = sequence.next()
        if Thread.isMainThread {
            MainActor.assumeIsolated { self.install(source, seq: seq) }
        } else {
            DispatchQueue.main.async {
                MainActor.assumeIsolated { self.install(source, seq: seq) }
            }
        }
    }

    /// Evaluates `script` in the page shown now.
    public nonisolated func evaluate(_ script: String) {
        DispatchQueue.main.async {
            MainActor.assumeIsolated { self.webView?.evaluateJavaScript(script, completionHandler: nil) }
        }
    }

    /// Answers the page's "state" messages through `bridge`.
    func listen(for bridge: ConsentWebViewBridge) {
        let handler = MessageHandler(bridge: bridge)
        controller.removeScriptMessageHandler(forName: ConsentWebViewBridge.messageHandlerName)
        controller.add(handler, name: ConsentWebViewBridge.messageHandlerName)
        self.handler = handler
    }

    /// Removes the message handler and the gate's script.
    public func detach() {
        controller.removeScriptMessageHandler(forName: ConsentWebViewBridge.messageHandlerName)
        handler = nil
        install(nil, seq: sequence.next())
    }

    private func install(_ source: String?, seq: Int) {
        guard seq > installedSeq else { return }
        installedSeq = seq
        let others = controller.userScripts.filter { $0 !== installed }
        controller.removeAllUserScripts()
        installed = nil
        if let source {
            let script = WKUserScript(source: source, injectionTime: .atDocumentStart, forMainFrameOnly: true)
            controller.addUserScript(script)
            installed = script
        }
        others.forEach(controller.addUserScript)
    }
}

extension ConsentGate {
    /// Keeps `webView`'s `window.consentgate` (and, with an `interop` block,
    /// `__tcfapi` / `__gpp`) in step with the gate: the core's script at
    /// document start, every change evaluated in the page, and the page's
    /// "state" messages answered. Call it before the first page loads; keep
    /// the bridge as long as the web view and `stop()` it when it goes.
    @MainActor
    public func attach(to webView: WKWebView) -> ConsentWebViewBridge {
        let host = WebKitConsentHost(webView: webView)
        let bridge = webViewBridge(host: host)
        host.listen(for: bridge)
        return bridge
    }
}

/// Numbers the scripts in the order the bridge sent them.
private final class Sequence: @unchecked Sendable {
    // @unchecked: `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

/// The message handler: WebKit keeps it strongly, so it holds the bridge
/// weakly. Any message makes the bridge push the state in force; the body
/// is never read.
@MainActor
private final class MessageHandler: NSObject, WKScriptMessageHandler {
    private weak var bridge: ConsentWebViewBridge?

    init(bridge: ConsentWebViewBridge) {
        self.bridge = bridge
    }

    func userContentController(_ userContentController: WKUserContentController, didReceive message: WKScriptMessage) {
        bridge?.pageRequestedState()
    }
}

#endif
