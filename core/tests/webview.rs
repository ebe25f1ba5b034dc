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

fn in_chromium(browser: &str, dir: &Path, user: &str, page_script: &str, host: &str) -> Value {
    let page = format!(
        "<!doctype html><html><head><script>{user}</script></head><body><pre id=\"out\"></pre>\
         <script>function report(log) {{ document.getElementById('out').textContent = JSON.stringify(log); }}</script>\
         <script>{page_script}</script><script>/* fake host */ {host}</script></body></html>"
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

fn in_node(node: &str, dir: &Path, user: &str, page_script: &str, host: &str) -> Value {
    let page = format!(
        "function report(log) {{ process.stdout.write(JSON.stringify(log)); }}\n\
         {user}\n{page_script}\n{host}\n"
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
        let log = in_chromium(&browser, dir.path(), &user, PAGE, &host);
        check(&log, &a, &b);
        return;
    }
    match find("node") {
        Some(node) => {
            println!("webview: chromium is not installed (core/webview/test.sh installs it); tested under Node instead");
            check(&in_node(&node, dir.path(), &user, PAGE, &host), &a, &b);
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
    check(&in_node(&node, dir.path(), &user, PAGE, &host), &a, &b);
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

/// A page's ad script using the IAB entry points, as a publisher's tag
/// would: ping, read the TC data, try to tamper, and wait for the user's
/// choice; `report(log)` once the change arrived.
const IAB_PAGE: &str = r#"
(function () {
  var log = { tcfEvents: [], gppEvents: [] };
  log.types = [typeof window.__tcfapi, typeof window.__gpp];
  __tcfapi("ping", 2, function (p, ok) {
    log.ping = { cmpId: p.cmpId, gdprApplies: p.gdprApplies, apiVersion: p.apiVersion, loaded: p.cmpLoaded, ok: ok };
  });
  __tcfapi("getTCData", 2, function (d, ok) {
    log.first = { tcString: d.tcString, p1: d.purpose.consents["1"], p2: d.purpose.consents["2"],
                  v755: d.vendor.consents["755"] === true, status: d.eventStatus, gdpr: d.gdprApplies, ok: ok };
    try { d.purpose.consents["2"] = true; } catch (e) {}
  });
  __tcfapi("getTCData", 2, function (d) { log.onlyAsked = d.vendor.consents; }, [755, 1]);
  __tcfapi("getTCData", 3, function (d, ok) { log.badVersion = ok; });
  __tcfapi("noSuchCommand", 2, function (d, ok) { log.badCommand = ok; });
  try { window.__tcfapi = function (c, v, cb) { cb({ tcString: "fake" }, true); }; } catch (e) {}
  __tcfapi("getTCData", 2, function (d) { log.afterTamper = d.purpose.consents["2"]; log.stillReal = d.tcString !== "fake"; });
  __gpp("ping", function (p, ok) { log.gppPing = { sections: p.sectionList, applicable: p.applicableSections, version: p.gppVersion, ok: ok }; });
  __gpp("hasSection", function (has) { log.hasTcfEu = has; }, "tcfeuv2");
  __gpp("hasSection", function (has) { log.hasUsNat = has; }, "usnat");
  __gpp("getField", function (v) { log.gppCmpId = v; }, "tcfeuv2.CmpId");
  __gpp("addEventListener", function (e) { log.gppEvents.push(e.eventName); });
  __tcfapi("addEventListener", 2, function (d, ok) {
    log.tcfEvents.push({ status: d.eventStatus, id: d.listenerId, p2: d.purpose.consents["2"], v755: d.vendor.consents["755"] === true, tcString: d.tcString });
    if (d.eventStatus === "useractioncomplete") {
      __tcfapi("removeEventListener", 2, function (removed) {
        log.removed = removed;
        setTimeout(function () { report(log); }, 50);
      }, d.listenerId);
    }
  });
})();
"#;

/// A memory key-value store (the app's SharedPreferences / UserDefaults).
#[derive(Default)]
struct Keys(std::sync::Mutex<std::collections::BTreeMap<String, String>>);

impl consentgate::KeyValueStore for Keys {
    fn get_string(&self, key: String) -> Option<String> {
        self.0.lock().unwrap().get(&key).cloned()
    }
    fn get_int(&self, _key: String) -> Option<i32> {
        None
    }
    fn write(&self, changes: Vec<consentgate::KeyWrite>) {
        let mut m = self.0.lock().unwrap();
        for c in changes {
            match c {
                consentgate::KeyWrite::SetString { key, value } => {
                    m.insert(key, value);
                }
                consentgate::KeyWrite::SetInt { key, value } => {
                    m.insert(key, value.to_string());
                }
                consentgate::KeyWrite::Remove { key } => {
                    m.remove(&key);
                }
            }
        }
    }
}

#[test]
fn page_ad_scripts_read_the_apps_tc_string_through_tcfapi_and_gpp_and_see_the_users_choice() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_policy("example-eu-cmp.json"), &clock());
    gate.set_key_value_store(std::sync::Arc::new(Keys::default()))
        .unwrap();
    let a = grant(&gate, "analytics", true);
    let b = grant(&gate, "advertising", true);
    let string = |s: &ConsentState| {
        s.interop
            .as_ref()
            .and_then(|i| i.tcf.string.clone())
            .expect("the core wrote a TC string")
    };
    let (tc_a, tc_b) = (string(&a), string(&b));
    assert_ne!(tc_a, tc_b);
    let (user, host) = scripts(&a, &b);
    let dir = tempfile::tempdir().unwrap();
    let log = if let Some(browser) = chromium() {
        in_chromium(&browser, dir.path(), &user, IAB_PAGE, &host)
    } else if let Some(node) = find("node") {
        println!("webview: chromium is not installed (core/webview/test.sh installs it); tested under Node instead");
        in_node(&node, dir.path(), &user, IAB_PAGE, &host)
    } else {
        println!(
            "webview: neither chromium nor node is installed; the IAB entry points were not run"
        );
        return;
    };
    assert_eq!(log["types"], json!(["function", "function"]), "{log}");
    assert_eq!(
        log["ping"],
        json!({"cmpId": 4095, "gdprApplies": true, "apiVersion": "2.2", "loaded": true, "ok": true})
    );
    // analytics maps to TCF purposes 1, 8, 9; advertising to 1-4, 7 and vendor
    // 755; a TCF purpose is consented only when every purpose mapped to it is.
    assert_eq!(
        log["first"],
        json!({"tcString": tc_a, "p1": false, "p2": false, "v755": false, "status": "tcloaded", "gdpr": true, "ok": true})
    );
    assert_eq!(
        log["onlyAsked"],
        json!({"755": false, "1": false}),
        "only the vendors asked for"
    );
    assert_eq!(
        (&log["badVersion"], &log["badCommand"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(
        (&log["afterTamper"], &log["stillReal"]),
        (&json!(false), &json!(true)),
        "the page changed what __tcfapi answers: {log}"
    );
    assert_eq!(
        log["gppPing"],
        json!({"sections": [2], "applicable": [2], "version": "1.1", "ok": true})
    );
    assert_eq!(
        (&log["hasTcfEu"], &log["hasUsNat"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(log["gppCmpId"], 4095);
    assert_eq!(
        log["tcfEvents"],
        json!([
            {"status": "tcloaded", "id": log["tcfEvents"][0]["id"], "p2": false, "v755": false, "tcString": tc_a},
            {"status": "useractioncomplete", "id": log["tcfEvents"][0]["id"], "p2": true, "v755": true, "tcString": tc_b},
        ]),
        "told once on registering, once on the user's choice; the stale push after it told nothing"
    );
    assert_eq!(log["removed"], true);
    assert_eq!(
        log["gppEvents"],
        json!(["listenerRegistered", "sectionChange", "signalStatus"])
    );
}

#[test]
fn a_page_that_brought_its_own_cmp_keeps_its_tcfapi() {
    // A page that brought its CMP: the SDK's script must not replace it,
    // even when the app's policy has an interop block.
    let Some(node) = find("node") else {
        println!("webview: node is not installed; the run was skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_policy("example-eu-cmp.json"), &clock());
    let a = grant(&gate, "analytics", true);
    let user = webview_user_script(NONCE.into(), a).unwrap();
    let page = format!(
        "window.__tcfapi = function (c, v, cb) {{ cb('the page CMP', true); }};\n{user}\n\
         __tcfapi('ping', 2, function (p) {{ process.stdout.write(String(p)); }});\n"
    );
    let out = run_node(&node, dir.path(), &page);
    assert_eq!(String::from_utf8_lossy(&out), "the page CMP");
}

#[test]
fn readme_iab_example_works_when_pasted() {
    let Some(node) = find("node") else {
        println!("webview: node is not installed; the README IAB example was not run");
        return;
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let example = readme
        .split("## WebViews")
        .nth(1)
        .and_then(|s| s.split("```js\n").nth(2))
        .and_then(|s| s.split("```").next())
        .expect("the README's WebViews section has an IAB example");
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_policy("example-eu-cmp.json"), &clock());
    gate.set_key_value_store(std::sync::Arc::new(Keys::default()))
        .unwrap();
    let state = grant(&gate, "advertising", true);
    let tc = state
        .interop
        .as_ref()
        .and_then(|i| i.tcf.string.clone())
        .unwrap();
    let gpp = state
        .interop
        .as_ref()
        .and_then(|i| i.gpp.as_ref())
        .and_then(|g| g.string.clone())
        .unwrap();
    let user = webview_user_script(NONCE.into(), state).unwrap();
    let out = run_node(&node, dir.path(), &format!("{user}\n{example}\n"));
    let out = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("{tc} {{")), "{out}");
    assert!(out.contains("'2': true"), "purpose 2 consented: {out}");
    assert_eq!(
        lines.last().copied(),
        Some(format!("{gpp} [ 2 ]").as_str()),
        "{out}"
    );
}
