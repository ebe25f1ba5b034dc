//! The shape of `core/src` is part of the design: modules depend on each
//! other one way only (api → engine → upload → deletion → queue → store →
//! domain → base). This reads the sources and fails on any dependency that
//! points back up — an import cycle in the making.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules from the top layer down; a module may only use
/// modules after it in this list.
const LAYERS: &[&str] = &[
    "api",
    "engine",
    "upload",
    "deletion",
    "queue",
    "store",
    "snapshot",
    "ledger",
    "device",
    "event",
    "consent",
    "acknowledge",
    "cmp",
    "error",
    "policy",
    "ticket",
    "wire",
    "interop",
    "clock",
    "logging",
    "test_hooks",
];

fn sources(path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            sources(&e.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(std::fs::read_to_string(path).unwrap());
    }
}

#[test]
fn core_modules_depend_one_way_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for m in LAYERS {
        let (file, dir) = (src.join(format!("{m}.rs")), src.join(m));
        let mut texts = Vec::new();
        sources(&file, &mut texts);
        sources(&dir, &mut texts);
        assert!(
            !texts.is_empty(),
            "module {m} has no source (update LAYERS)"
        );
        let deps = graph.entry(m).or_default();
        for t in texts {
            for (i, _) in t.match_indices("crate::") {
                let name: String = t[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if name != *m && LAYERS.contains(&name.as_str()) {
                    deps.insert(name);
                }
            }
        }
    }
    let rank = |m: &str| LAYERS.iter().position(|x| *x == m).unwrap();
    let mut upward = Vec::new();
    for (m, deps) in &graph {
        for d in deps {
            if rank(d) < rank(m) {
                upward.push(format!("{m} uses {d}"));
            }
        }
    }
    assert!(upward.is_empty(), "dependencies pointing up: {upward:?}");
    // Every module of the crate is placed in a layer.
    for e in std::fs::read_dir(&src).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().replace(".rs", "");
        if !["lib", "bin"].contains(&name.as_str()) {
            assert!(LAYERS.contains(&name.as_str()), "{name} is in no layer");
        }
    }
}
