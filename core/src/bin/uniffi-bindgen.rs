//! The UniFFI binding generator, built from the same uniffi version as the core
//! so generated Kotlin/Swift always match the scaffolding in the library.
//!
//! After `generate --language kotlin` it also drops, from the generated Kotlin,
//! every `external fun` declaration that the generated code never calls (the
//! async-future entry points of a library without async exports, and the
//! checksum functions once `omit_checksums` is set). JNA's `Native.register`
//! binds every declared native method of a class when the class initialises,
//! on the first call into the library: each unused declaration is cold-start
//! time an app pays for nothing (SPEC §9, `kotlin_cold_first_allows_ms`).
//! Nothing that is called is touched, so the bindings behave exactly as
//! generated.

use std::path::{Path, PathBuf};

fn main() {
    uniffi::uniffi_bindgen_main();
    if let Some(dir) = kotlin_out_dir(std::env::args().skip(1)) {
        if let Err(e) = prune_dir(&dir) {
            eprintln!(
                "uniffi-bindgen: pruning unused FFI declarations in {}: {e}",
                dir.display()
            );
            std::process::exit(1);
        }
    }
}

/// The `--out-dir` of a `generate` run for Kotlin, if this was one.
fn kotlin_out_dir(args: impl Iterator<Item = String>) -> Option<PathBuf> {
    let args: Vec<String> = args.collect();
    let value = |long: &str, short: &str| {
        args.iter().enumerate().find_map(|(i, a)| {
            if a == long || a == short {
                args.get(i + 1).cloned()
            } else {
                a.strip_prefix(&format!("{long}=")).map(str::to_owned)
            }
        })
    };
    let generate = args.first().is_some_and(|a| a == "generate");
    let kotlin = value("--language", "-l").is_some_and(|l| l == "kotlin");
    match (generate, kotlin) {
        (true, true) => value("--out-dir", "-o").map(PathBuf::from),
        _ => None,
    }
}

/// Prunes every generated `.kt` file under `dir`.
fn prune_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            prune_dir(&path)?;
        } else if path.extension().is_some_and(|e| e == "kt") {
            let text = std::fs::read_to_string(&path)?;
            let pruned = prune_unused_externals(&text);
            if pruned != text {
                std::fs::write(&path, pruned)?;
            }
        }
    }
    Ok(())
}

/// The name declared by a line `external fun NAME(…`, if it is one.
fn declared_external(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("external fun ")?;
    let end = rest.find('(')?;
    Some(&rest[..end])
}

/// Whether `name` occurs in `text` as a whole identifier (not as a prefix
/// of a longer one).
fn occurrences(text: &str, name: &str) -> usize {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name)
        .filter(|(i, _)| {
            let before = text[..*i].chars().next_back();
            let after = text[i + name.len()..].chars().next();
            !before.is_some_and(ident) && !after.is_some_and(ident)
        })
        .count()
}

/// `text` without the `external fun` declarations nobody calls. A declaration
/// runs from its `external fun` line to the line starting with `)` that
/// carries its return type (UniFFI's `--no-format` layout).
fn prune_unused_externals(text: &str) -> String {
    let unused: Vec<&str> = text
        .lines()
        .filter_map(declared_external)
        .filter(|name| occurrences(text, name) == 1)
        .collect();
    if unused.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        if !skipping {
            if let Some(name) = declared_external(line) {
                if unused.contains(&name) {
                    // A one-line declaration carries its `): Type` itself.
                    skipping = !line.contains("):");
                    continue;
                }
            }
            out.push_str(line);
        } else if line.trim_start().starts_with(')') {
            skipping = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERATED: &str = "internal object UniffiLib {\n    init {\n    }\n    external fun used_one(`ptr`: Long,uniffi_out_err: UniffiRustCallStatus, \n    ): Long\n    external fun unused_one(`handle`: Long,`callback`: Cb,\n    ): Unit\n    external fun used_one_more(\n    ): Int\n}\nfun a() = UniffiLib.used_one(1, s)\nfun b() = UniffiLib.used_one_more()\n";

    #[test]
    fn an_uncalled_declaration_goes_and_called_ones_stay() {
        let out = prune_unused_externals(GENERATED);
        assert!(!out.contains("unused_one"), "{out}");
        assert!(out.contains("external fun used_one(`ptr`"), "{out}");
        assert!(out.contains("external fun used_one_more("), "{out}");
        // Every remaining declaration keeps its return-type line.
        assert_eq!(out.matches("): ").count(), 2, "{out}");
        assert!(out.ends_with("fun b() = UniffiLib.used_one_more()\n"));
    }

    #[test]
    fn a_name_that_prefixes_another_is_not_counted_as_used() {
        assert_eq!(occurrences(GENERATED, "used_one"), 2);
        assert_eq!(occurrences(GENERATED, "used_one_more"), 2);
    }

    #[test]
    fn only_kotlin_generation_is_pruned() {
        let args = |s: &str| {
            s.split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(
            kotlin_out_dir(args(
                "generate --no-format --language kotlin --out-dir out lib.so"
            )),
            Some(PathBuf::from("out"))
        );
        assert_eq!(
            kotlin_out_dir(args("generate --language swift --out-dir out lib.so")),
            None
        );
        assert_eq!(
            kotlin_out_dir(args("generate -l kotlin -o out lib.so")),
            Some(PathBuf::from("out"))
        );
    }
}
