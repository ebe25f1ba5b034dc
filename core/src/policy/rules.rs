//! The small rules the policy checker applies to single values: the URL
//! rule of SPEC §3 (https, or loopback http), id and region-code shapes, how
//! a JSON path is written in an issue, and the canonical serialization whose
//! sha256 is the policy hash.

use serde_json::Value;

/// Path of the document itself.
pub(super) const ROOT: &str = "$";

/// How a URL that fails the scheme rule is described.
const HTTPS_ONLY: &str = "must be https:// (plain http is allowed only for loopback)";

/// What a URL is for: an endpoint URL is a base that `/v1/...` is appended
/// to, so it may not carry a query or fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UrlUse {
    /// The privacy notice.
    Notice,
    /// A collector base URL.
    Endpoint,
}

/// The URL rule of SPEC §3: `https://` with a host, or plain `http://` to a
/// loopback host (`127.0.0.1`, `localhost`, `[::1]`) for development.
pub(super) fn check_url(url: &str, usage: UrlUse) -> Result<(), String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(HTTPS_ONLY.to_owned());
    };
    let https = scheme.eq_ignore_ascii_case("https");
    if !https && !scheme.eq_ignore_ascii_case("http") {
        return Err(HTTPS_ONLY.to_owned());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err("must not contain a user name or password".to_owned());
    }
    let (host, port) = split_host_port(authority);
    if host.is_empty() {
        return Err("must have a host".to_owned());
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(format!("invalid port {}", quoted(port)));
        }
    }
    if !is_host(host) {
        return Err(format!("invalid host {}", quoted(host)));
    }
    if !https && !is_loopback(host) {
        return Err(HTTPS_ONLY.to_owned());
    }
    if usage == UrlUse::Endpoint && tail.contains(['?', '#']) {
        return Err(
            "must not have a query or fragment (it is the base of /v1/... paths)".to_owned(),
        );
    }
    Ok(())
}

/// The host of a URL [`check_url`] accepted, without port or path (a
/// bracketed IPv6 literal keeps its brackets): `https://h:8443/x` → `h`.
pub(super) fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    split_host_port(&rest[..end]).0
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 literal.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        if let Some(close) = authority.find(']') {
            let (host, rest) = authority.split_at(close + 1);
            return match rest.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if rest.is_empty() => (host, None),
                // Garbage after `]`: report it as part of the host.
                None => (authority, None),
            };
        }
        return (authority, None);
    }
    match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// An ASCII host name (dot-separated labels of letters, digits and `-`), an
/// IPv4 address, or a bracketed IPv6 literal.
fn is_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn is_loopback(host: &str) -> bool {
    host == "127.0.0.1" || host == "[::1]" || host.eq_ignore_ascii_case("localhost")
}

/// `^[a-z][a-z0-9_]{0,63}$`: purpose, category and endpoint ids.
pub(super) fn is_id(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(b'a'..=b'z'))
        && b.len() <= 64
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// `^[a-z][a-z0-9_-]{0,63}$`: like an id, but `-` is allowed too, as in the
/// `"example-app"` of SPEC §3 (a policy id is only a label, never a key in a
/// mask or a wire field name).
pub(super) fn is_policy_id(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(b'a'..=b'z'))
        && b.len() <= 64
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// `^[A-Z]{2}$`.
pub(super) fn is_region_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// `parent.key`, or `parent["key"]` when the key is not a plain name; a
/// top-level field's path is just its name.
pub(super) fn join(parent: &str, key: &str) -> String {
    let plain = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match (parent == ROOT, plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", quoted(key)),
    }
}

pub(super) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// `s` as a JSON string literal, so that odd characters in a message stay visible.
pub(super) fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The document with object keys sorted and no insignificant whitespace.
///
/// This is byte for byte what `serde_json::to_string` gives for a `Value`
/// whose map is the default `BTreeMap`; sorting here as well keeps the hash
/// stable even if some crate in the build enables serde_json's
/// `preserve_order` feature (features are unified across a build).
pub(super) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&quoted(key));
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        // Scalars print the same whatever the map type.
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rule_is_lower_snake_case_up_to_64_chars() {
        assert!(is_id("a"));
        assert!(is_id("cross_border_transfer"));
        assert!(is_id(&format!("a{}", "b".repeat(63))));
        assert!(!is_id(&format!("a{}", "b".repeat(64))));
        for bad in ["", "_a", "1a", "Analytics", "a-b", "a b", "аналитика"] {
            assert!(!is_id(bad), "{bad:?} passed");
        }
        assert!(is_policy_id("example-app"));
        assert!(!is_policy_id("-app"));
    }

    #[test]
    fn region_codes_are_two_capital_letters() {
        assert!(is_region_code("KZ"));
        for bad in ["kz", "KAZ", "K", "", "К1", "ҚЗ"] {
            assert!(!is_region_code(bad), "{bad:?} passed");
        }
    }

    #[test]
    fn url_rule() {
        use UrlUse::{Endpoint, Notice};
        for ok in [
            "https://collector.example.kz",
            "https://collector.example.kz:8443/base/",
            "HTTPS://Example.KZ",
            "https://10.0.0.1",
            "https://[2001:db8::1]:443",
            "http://127.0.0.1",
            "http://127.0.0.1:8080/x",
            "http://localhost:3000",
            "http://[::1]:9000/",
        ] {
            assert_eq!(check_url(ok, Endpoint), Ok(()), "{ok}");
        }
        assert_eq!(
            check_url("https://example.kz/privacy?lang=ru#top", Notice),
            Ok(())
        );
        let cases = [
            ("http://example.kz", HTTPS_ONLY.to_owned()),
            ("http://127.0.0.1.nip.io", HTTPS_ONLY.to_owned()),
            ("http://localhost.evil.com", HTTPS_ONLY.to_owned()),
            ("http://[::2]", HTTPS_ONLY.to_owned()),
            ("ftp://example.kz", HTTPS_ONLY.to_owned()),
            ("example.kz", HTTPS_ONLY.to_owned()),
            ("https://", "must have a host".to_owned()),
            ("https:///path", "must have a host".to_owned()),
            (
                "http://localhost@evil.com",
                "must not contain a user name or password".to_owned(),
            ),
            ("https://example.kz:0", r#"invalid port "0""#.to_owned()),
            (
                "https://example.kz:99999",
                r#"invalid port "99999""#.to_owned(),
            ),
            ("https://example.kz:", r#"invalid port """#.to_owned()),
            (
                "https://exa_mple.kz",
                r#"invalid host "exa_mple.kz""#.to_owned(),
            ),
            (
                "https://example..kz",
                r#"invalid host "example..kz""#.to_owned(),
            ),
            (
                "https://пример.kz",
                r#"invalid host "пример.kz""#.to_owned(),
            ),
            (
                "https://example.kz/ x",
                "must not contain spaces or control characters".to_owned(),
            ),
            (
                "https://example.kz/?a=1",
                "must not have a query or fragment (it is the base of /v1/... paths)".to_owned(),
            ),
        ];
        for (url, message) in cases {
            assert_eq!(check_url(url, Endpoint), Err(message), "{url}");
        }
    }

    #[test]
    fn paths_quote_keys_that_are_not_plain_names() {
        assert_eq!(join(ROOT, "limits"), "limits");
        assert_eq!(join("controller", "nmae"), "controller.nmae");
        assert_eq!(join("regions", "K Z"), r#"regions["K Z"]"#);
        assert_eq!(join(ROOT, "a\"b"), r#"$["a\"b"]"#);
        assert_eq!(index("purposes", 2), "purposes[2]");
    }

    #[test]
    fn canonical_json_matches_serde_json_with_sorted_keys() {
        let value: Value = serde_json::from_str(
            r#"{"b": [1, {"z": null, "a": "é\n\"q\""}], "a": true, "c": -2, "d": 1.5}"#,
        )
        .unwrap();
        let canonical = canonical_json(&value);
        assert_eq!(
            canonical,
            r#"{"a":true,"b":[1,{"a":"é\n\"q\"","z":null}],"c":-2,"d":1.5}"#
        );
        // Same bytes as serde_json's own writer (given keys already in order,
        // which holds for its default map whatever the input order).
        let sorted: Value = serde_json::from_str(&canonical).unwrap();
        assert_eq!(serde_json::to_string(&sorted).unwrap(), canonical);
    }
}
