//! Consent inside WebViews: the JavaScript file the SDK ships
//! (`core/webview/consentgate.js`, compiled in, so Android and iOS inject the
//! same bytes) and the two scripts a host evaluates in a page: the user
//! script installed at document start, and the update pushed on every change
//! of consent. Both carry a host-chosen nonce: the page can read decisions,
//! never change them, and cannot fake an update to other page scripts.
//!
//! When the policy has an `interop` block the state carries what the IAB
//! entry points answer (`interop::cmpapi`: the `TCData`, the TCF and GPP
//! ping objects, built here from the strings in force), and the script
//! installs `__tcfapi` and, when GPP applies, `__gpp` serving them.
//!
//! Not here: the platform glue (`WebView.addJavascriptInterface` / `evaluateJavascript`,
//! `WKUserScript`), which lives in the bindings.

use serde_json::json;

use crate::cmp::{SignalReport, SignalStatus};
use crate::consent::ConsentState;
use crate::error::GateError;
use crate::interop::{cmpapi, gpp, tcf};

/// The SDK's WebView script: one JavaScript function expression taking
/// `(nonce, state)`; [`webview_user_script`] is what to inject.
pub const WEBVIEW_SCRIPT: &str = include_str!("../../webview/consentgate.js");

/// The SDK's WebView script as shipped (the same on every platform).
#[uniffi::export]
pub fn webview_script() -> String {
    WEBVIEW_SCRIPT.to_owned()
}

/// The script to inject at document start of every page (Android: evaluate it
/// from `onPageStarted`, or `addDocumentStartJavaScript` where available;
/// iOS: a `WKUserScript` at `.atDocumentStart`): installs
/// `window.consentgate` with `state`. `nonce` is the host's secret for this
/// WebView, 16 to 128 characters of `A-Z a-z 0-9 - _`, never shown to the page.
#[uniffi::export]
pub fn webview_user_script(nonce: String, state: ConsentState) -> Result<String, GateError> {
    check_nonce(&nonce)?;
    Ok(format!(
        "{}({},{});\n",
        WEBVIEW_SCRIPT.trim_end(),
        js_string(&nonce),
        state_json(&state)
    ))
}

/// The script to evaluate in the page when consent changes (from the
/// `ConsentListener`): page scripts see the new state and get a `change`
/// event. A page without the user script ignores it.
#[uniffi::export]
pub fn webview_update_script(nonce: String, state: ConsentState) -> Result<String, GateError> {
    check_nonce(&nonce)?;
    Ok(format!(
        "window.__consentgateUpdate&&window.__consentgateUpdate({},{});\n",
        js_string(&nonce),
        state_json(&state)
    ))
}

fn check_nonce(nonce: &str) -> Result<(), GateError> {
    let ok = (16..=128).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(GateError::InvalidArgument {
            message: format!(
                "nonce must be 16 to 128 characters of A-Z a-z 0-9 - _ (got {} characters)",
                nonce.len()
            ),
        })
    }
}

/// `s` as a JavaScript string literal.
fn js_string(s: &str) -> String {
    safe_for_script(serde_json::Value::from(s).to_string())
}

/// The string of `report` when it is in force (applied or written).
fn in_force(report: &SignalReport) -> Option<&str> {
    matches!(report.status, SignalStatus::Applied | SignalStatus::Written)
        .then_some(report.string.as_deref())
        .flatten()
}

/// What `__tcfapi` and `__gpp` answer for `state`; both null without an
/// `interop` block, `gpp` null where GPP does not apply.
fn iab_json(state: &ConsentState) -> (serde_json::Value, serde_json::Value) {
    let Some(interop) = &state.interop else {
        return (serde_json::Value::Null, serde_json::Value::Null);
    };
    let text = in_force(&interop.tcf);
    let tc = text.and_then(|t| tcf::decode(t).ok());
    let tcf_json = json!({
        "tcData": cmpapi::tc_data(text, tc.as_ref(), interop.gdpr_applies),
        "ping": cmpapi::tcf_ping(tc.as_ref(), interop.gdpr_applies),
    });
    let gpp_json = interop.gpp.as_ref().map_or(serde_json::Value::Null, |r| {
        let text = in_force(r);
        let decoded = text.and_then(|t| gpp::decode(t).ok());
        cmpapi::gpp_ping(text, decoded.as_ref())
    });
    (tcf_json, gpp_json)
}

/// What page scripts see: the state in the script's camelCase shape.
fn state_json(state: &ConsentState) -> String {
    let (tcf_json, gpp_json) = iab_json(state);
    let purposes: serde_json::Map<String, serde_json::Value> = state
        .purposes
        .iter()
        .map(|p| (p.id.clone(), p.status.as_str().into()))
        .collect();
    safe_for_script(
        json!({
            "policyId": state.policy_id,
            "revision": state.revision,
            "version": state.version,
            "needsPrompt": state.needs_prompt,
            "allowed": state.allowed_categories,
            "purposes": purposes,
            "gpc": state.gpc,
            "ageRestricted": state.age_restricted,
            "tcf": tcf_json,
            "gpp": gpp_json,
        })
        .to_string(),
    )
}

/// JSON with `<`, U+2028 and U+2029 escaped, so that it stays one JavaScript
/// expression even inside an HTML `<script>` element.
fn safe_for_script(json: String) -> String {
    json.replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}
