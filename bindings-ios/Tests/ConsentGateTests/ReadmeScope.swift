// What a README snippet may assume without declaring it: the names an app's
// code has at hand (a policy file in the bundle, an open gate). swift-test.sh
// wraps each README block in `extension ReadmeScope { func snippet…() }`
// (Tests/ConsentGateTests/Readme/, generated), so the blocks compile as
// written against the API; ReadmeSnippetsTests checks they are current.
import Foundation
import ConsentGate

/// The names README snippets use without declaring them.
protocol ReadmeScope: Sendable {
    /// The policy document bundled with the app.
    var policyURL: URL { get }
    /// A gate opened earlier (snippets after the quick start use it).
    var gate: ConsentGate { get }
}
