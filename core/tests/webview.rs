//! The WebView script (`core/webview/consentgate.js`) in a real browser: a
//! page loaded in headless Chromium reads `consentgate.allows` and the state
//! the host injected, tries to change or fake them, and listens for a change
//! pushed by a fake host (the update scripts the core builds for a real
//! consent change). Where Chromium is missing (`core/webview/test.sh`
//! installs Debian's `chromium`), the test says so in one line and runs the
//! same page logic under Node instead; with neither, it says that.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use consentgate::{webview_update_script, webview_user_script, ConsentState};
use serde_json::{json, Value};

const NONCE: &str = "host-secret-0123456789abcdef";

/// The page's own script: what a web developer would write, plus attempts
/// to tamper with the decisions. Calls `report(log)` once the change arrived.
const PAGE: &str = r#"
(function () {
  var log = { events: [] };
  log.allowsUsage = consentgate.allows("usage_events");
  log.allowsAd = consentgate.allows("advertising_id");
  log.allowsUnknown = consentgate.allows("no_such_category");
  log.initial = consentgate.state;
  try { window.consentgate = { allows: function () { return true; } }; } catch (e) {}
  try { consentgate.allows = function () { return true; }; } catch (e) {}
  try { consentgate.state.allowed.push("advertising_id"); } catch (e) {}
  try { consentgate.state.purposes.advertising = "granted"; } catch (e) {}
  try { delete window.consentgate; } catch (e) {}
  try { window.__consentgateUpdate = function () { return true; }; } catch (e) {}
  log.fakeUpdate = window.__consentgateUpdate("wrong-nonce-00000000000",
    { allowed: ["advertising_id"], version: 99, purposes: {} });
  log.afterTamper = consentgate.allows("advertising_id");
  log.tcfapi = typeof window.__tcfapi;
  consentgate.addEventListener("change", function (s) {
    log.events.push({ via: "listener", allowed: s.allowed.slice(), version: s.version });
  });
  window.addEventListener("consentgate:change", function (e) {
    log.events.push({ via: "window", allowed: e.detail.allowed.slice() });
    log.allowsUsageAfter = consentgate.allows("usage_events");
    log.allowsAdAfter = consentgate.allows("advertising_id");
    log.purposesAfter = consentgate.state.purposes;
    // The host pushed an older state right after: give it a turn to be ignored.
    setTimeout(function () { log.final = consentgate.state.version; report(log); }, 50);
  });
})();
"#;

/// What the host does: the scripts for the states `a` (injected at document
/// start) and `b` (a change pushed later), and a stale push of `a` after `b`.
fn scripts(a: &ConsentState, b: &ConsentState) -> (String, String) {
    let user = webview_user_script(NONCE.into(), a.clone()).expect("user script");
    let host = format!(
        "setTimeout(function () {{ {} {} }}, 20);",
        webview_update_script(NONCE.into(), b.clone()).expect("update"),
        webview_update_script(NONCE.into(), a.clone()).expect("stale update"),
    );
    (user, host)
}

fn states() -> (ConsentState, ConsentState) {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    let a = grant(&gate, "analytics", true);
    grant(&gate, "analytics", false);
    let b = grant(&gate, "advertising", true);
    (a, b)
}

fn find(program: &str) -> Option<String> {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| program.to_owned())
}

fn chromium() -> Option<String> {
    std::env::var("CONSENTGATE_CHROMIUM")
        .ok()
        .or_else(|| find("chromium"))
        .or_else(|| find("chromium-browser"))
}

fn in_chromium(browser: &str, dir: &Path, user: &str, host: &str) -> Value {
    let page = format!(
        "<!doctype html><html><head><script>{user}</script></head><body><pre id=\"out\"></pre>\
         <script>function report(log) {{ document.getElementById('out').textContent = JSON.stringify(log); }}</script>\
         <script>{PAGE}</script><script>/* fake host */ {host}</script></body></html>"
    );
    let file = dir.join("page.html");
    std::fs::write(&file, page).unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", dir.join("profile").display()),
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let text = dom
        .split("<pre id=\"out\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!(
                "no result in the page: {dom}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        !text.is_empty(),
        "the page never reported (a page script threw?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn in_node(node: &str, dir: &Path, user: &str, host: &str) -> Value {
    let page = format!(
        "function report(log) {{ process.stdout.write(JSON.stringify(log)); }}\n\
         {user}\n{PAGE}\n{host}\n"
    );
    serde_json::from_slice(&run_node(node, dir, &page)).expect("the page reported")
}

/// Runs `page` under Node in a window with events (Node has EventTarget and
/// CustomEvent); its stdout, once it exited successfully.
fn run_node(node: &str, dir: &Path, page: &str) -> Vec<u8> {
    let program = format!(
        "globalThis.window = globalThis;\n\
         {{ const t = new EventTarget(); globalThis.addEventListener = t.addEventListener.bind(t);\n\
           globalThis.dispatchEvent = t.dispatchEvent.bind(t); }}\n\
         {page}"
    );
    let file = dir.join("page.js");
    std::fs::write(&file, program).unwrap();
    let out = Command::new(node).arg(&file).output().expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn check(log: &Value, a: &ConsentState, b: &ConsentState) {
    assert_eq!(
        (&log["allowsUsage"], &log["allowsAd"], &log["allowsUnknown"]),
        (&json!(true), &json!(false), &json!(false)),
        "{log}"
    );
    assert_eq!(log["initial"]["allowed"], json!(a.allowed_categories));
    assert_eq!(log["initial"]["policyId"], "aqkol-city-app");
    assert_eq!(log["initial"]["purposes"]["analytics"], "granted");
    assert_eq!(log["initial"]["needsPrompt"], true);
    assert_eq!(log["fakeUpdate"], false, "an update without the nonce");
    assert_eq!(
        log["afterTamper"], false,
        "the page changed a decision: {log}"
    );
    assert_eq!(log["tcfapi"], "undefined", "no interop block, no __tcfapi");
    assert_eq!(
        log["events"],
        json!([
            {"via": "listener", "allowed": b.allowed_categories, "version": b.version},
            {"via": "window", "allowed": b.allowed_categories},
        ]),
        "one change, told both ways"
    );
    assert_eq!(
        (&log["allowsUsageAfter"], &log["allowsAdAfter"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(log["purposesAfter"]["advertising"], "granted");
    assert_eq!(log["final"], json!(b.version), "the stale push was ignored");
}

#[test]
fn page_scripts_read_decisions_never_change_them_and_see_changes() {
    let (a, b) = states();
    assert_eq!(
        b.allowed_categories,
        ["advertising_id", "install_referrer"],
        "the states differ"
    );
    let (user, host) = scripts(&a, &b);
    let dir = tempfile::tempdir().unwrap();
    if let Some(browser) = chromium() {
        let log = in_chromium(&browser, dir.path(), &user, &host);
        check(&log, &a, &b);
        return;
    }
    match find("node") {
        Some(node) => {
            println!("webview: chromium is not installed (core/webview/test.sh installs it); tested under Node instead");
            check(&in_node(&node, dir.path(), &user, &host), &a, &b);
        }
        None => println!(
            "webview: neither chromium nor node is installed; the WebView script was not run"
        ),
    }
}

#[test]
fn the_script_logic_also_holds_under_node() {
    // The fallback itself must stay true where Chromium exists too.
    let Some(node) = find("node") else {
        println!("webview: node is not installed; the Node run was skipped");
        return;
    };
    let (a, b) = states();
    let (user, host) = scripts(&a, &b);
    let dir = tempfile::tempdir().unwrap();
    check(&in_node(&node, dir.path(), &user, &host), &a, &b);
}

#[test]
fn scripts_refuse_a_weak_nonce_and_embed_the_shipped_file() {
    let (a, _) = states();
    for nonce in ["short", "has space 0123456789", "quote\"0123456789abc"] {
        let err = webview_user_script(nonce.into(), a.clone()).unwrap_err();
        assert!(err.to_string().contains("nonce must be 16 to 128"), "{err}");
        assert!(webview_update_script(nonce.into(), a.clone()).is_err());
    }
    let user = webview_user_script(NONCE.into(), a).unwrap();
    assert!(user.starts_with(consentgate::WEBVIEW_SCRIPT.trim_end()));
    assert_eq!(consentgate::webview_script(), consentgate::WEBVIEW_SCRIPT);
}

#[test]
fn readme_webview_example_works_when_pasted() {
    let Some(node) = find("node") else {
        println!("webview: node is not installed; the README example was not run");
        return;
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let example = readme
        .split("## WebViews")
        .nth(1)
        .and_then(|s| s.split("```js\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("the README's WebViews section has a js example");
    let (a, b) = states();
    let (user, host) = scripts(&a, &b);
    let dir = tempfile::tempdir().unwrap();
    let out = run_node(&node, dir.path(), &format!("{user}\n{example}\n{host}\n"));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "true\nallowed now: advertising_id, install_referrer\n"
    );
}
