#!/usr/bin/env bash
# Builds the Swift package and runs its XCTests on this host (Linux), linking
# the host-built core. No Xcode and no Apple SDK needed.
#
#   bindings-ios/swift-test.sh                        # everything
#   bindings-ios/swift-test.sh GeneratedBindingTests  # only these (swift test --filter)
#   CONSENTGATE_SWIFT_LINK=dynamic bindings-ios/swift-test.sh   # link the cdylib instead
#   bindings-ios/swift-test.sh --bench                # the Swift figures (Benchmarks/, -c release),
#                                                     # written to target/consentgate-swift-bench.json
#
# Steps: build the core (debug: library mode reads the metadata stripping
# would remove), the workspace's uniffi-bindgen and the reference collector;
# snapshot the library into Generated/lib; generate the Swift bindings from it
# into Generated/ (gitignored, never committed); `swift build --build-tests`
# with warnings as errors; `swift test`. Generated files and the staged
# library are replaced only when they changed, so a rerun with no change
# rebuilds nothing.
#
# The last line is `swift: N passed, M failed`; the exit status is non-zero
# on any failure.
set -euo pipefail

CG_IOS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CG_ROOT="$(cd "$CG_IOS_DIR/.." && pwd)"
CG_TARGET_DIR="${CARGO_TARGET_DIR:-$CG_ROOT/target}"
CG_GENERATED="$CG_IOS_DIR/Generated"
CG_LINK="${CONSENTGATE_SWIFT_LINK:-static}"

cg_log() { printf '==> %s\n' "$*" >&2; }

# Copies $1 to $2 unless $2 already has the same bytes (keeps its timestamp,
# so SwiftPM sees nothing new); the copy lands atomically. Sets CG_CHANGED=1
# when it copied.
cg_install_if_changed() {
    local from=$1 to=$2
    if [[ -f $to ]] && cmp -s "$from" "$to"; then return 0; fi
    mkdir -p "$(dirname "$to")"
    cp "$from" "$to.tmp" && mv -f "$to.tmp" "$to"
    CG_CHANGED=1
}

# The core (static and dynamic), uniffi-bindgen and the collector the
# loopback tests start. The library is snapshotted at once: the bindings are
# generated from the same build that is linked (UniFFI checks that they
# match), whatever a concurrent `cargo build` does to target/ afterwards.
cg_build_native() {
    cg_log "cargo build -p consentgate (debug lib + uniffi-bindgen), -p consentgate-collector"
    (cd "$CG_ROOT" && cargo build -q -p consentgate --features bindgen --bin uniffi-bindgen &&
        cargo build -q -p consentgate && cargo build -q -p consentgate-collector)
    local snap="$CG_IOS_DIR/.build/native"
    mkdir -p "$snap"
    cp "$CG_TARGET_DIR/debug/libconsentgate.so" "$snap/libconsentgate.so"
    cp "$CG_TARGET_DIR/debug/libconsentgate.a" "$snap/libconsentgate.a"
    CG_BINDGEN="$CG_TARGET_DIR/debug/uniffi-bindgen"
    CG_COLLECTOR="$CG_TARGET_DIR/debug/consentgate-collector"

    # The module map links `consentgate`; the linker takes whichever file is
    # in Generated/lib, so exactly one of them is staged.
    CG_CHANGED=0
    case $CG_LINK in
        static)
            cg_install_if_changed "$snap/libconsentgate.a" "$CG_GENERATED/lib/libconsentgate.a"
            rm -f "$CG_GENERATED/lib/libconsentgate.so"
            ;;
        dynamic)
            cg_install_if_changed "$snap/libconsentgate.so" "$CG_GENERATED/lib/libconsentgate.so"
            rm -f "$CG_GENERATED/lib/libconsentgate.a"
            ;;
        *)
            cg_log "CONSENTGATE_SWIFT_LINK must be static or dynamic, not '$CG_LINK'"
            return 1
            ;;
    esac
    CG_CORE_CHANGED=$CG_CHANGED
}

# Generates ConsentGateFFI.swift and ConsentGateFFIFFI.h from the snapshot
# (library mode, names from core/uniffi.toml). The generator's own module map
# is not used: Sources/ConsentGateFFIFFI/module.modulemap is ours.
cg_generate() {
    local out="$CG_IOS_DIR/.build/uniffi"
    rm -rf "$out"
    cg_log "uniffi-bindgen generate --language swift"
    (cd "$CG_ROOT" && "$CG_BINDGEN" generate --no-format --language swift \
        --out-dir "$out" "$CG_IOS_DIR/.build/native/libconsentgate.so")
    [[ -s $out/ConsentGateFFI.swift && -s $out/ConsentGateFFIFFI.h ]] ||
        { cg_log "the Swift generator produced no ConsentGateFFI.swift/ConsentGateFFIFFI.h"; return 1; }
    cg_install_if_changed "$out/ConsentGateFFI.swift" "$CG_GENERATED/ConsentGateFFI/ConsentGateFFI.swift"
    cg_install_if_changed "$out/ConsentGateFFIFFI.h" "$CG_GENERATED/ConsentGateFFIFFI/ConsentGateFFIFFI.h"
}

# Extracts the ```swift blocks of the root README's "iOS quick start" and of
# bindings-ios/README.md into Tests/ConsentGateTests/Readme/ (gitignored), one
# file each, so that `swift build --build-tests` compiles them against the
# API: a quick start that no longer compiles fails the build. A block that
# declares a type or an extension at its top level is a file as it stands;
# any other becomes `extension ReadmeScope { func snippet…() async throws }`
# (Tests/ConsentGateTests/ReadmeScope.swift: the names a snippet may assume),
# its imports hoisted. Each file keeps the README's text between
# `// BEGIN` / `// END` lines, which ReadmeSnippetsTests compares with the
# READMEs. Files are replaced only when they changed.
cg_extract_readme() {
    local out="$CG_IOS_DIR/Tests/ConsentGateTests/Readme" raw="$CG_IOS_DIR/.build/readme-raw"
    rm -rf "$raw" && mkdir -p "$raw" "$out"
    awk -v out="$raw" '
        FNR == 1 { tag = (FILENAME ~ /bindings-ios/) ? "ios" : "root"; section = (tag == "ios"); n = 0 }
        tag == "root" && /^## / { section = ($0 == "## iOS quick start") }
        !section { next }
        !inblock && /^```swift[ ]*$/ { inblock = 1; n++; file = sprintf("%s/%s_%02d.raw", out, tag, n); next }
        inblock && /^```[ ]*$/ { inblock = 0; close(file); next }
        inblock { print > file }
    ' "$CG_ROOT/README.md" "$CG_IOS_DIR/README.md"
    local f base count=0 keep=()
    for f in "$raw"/*.raw; do
        [[ -e $f ]] || continue
        base=$(basename "$f" .raw)
        {
            echo "// Generated by bindings-ios/swift-test.sh from a README block; do not edit."
            grep -E '^import ' "$f" || true
            grep -q '^import ConsentGate$' "$f" || echo "import ConsentGate"
            echo "import Foundation"
            if grep -Eq '^(public |final |private )*(struct|class|enum|extension|protocol|actor) ' "$f"; then
                echo "// BEGIN"
                grep -Ev '^import ' "$f"
                echo "// END"
            else
                echo "extension ReadmeScope {"
                echo "    func snippet_$base() async throws {"
                echo "// BEGIN"
                grep -Ev '^import ' "$f"
                echo "// END"
                echo "    }"
                echo "}"
            fi
        } >"$raw/readme_$base.swift"
        cg_install_if_changed "$raw/readme_$base.swift" "$out/readme_$base.swift"
        keep+=("readme_$base.swift")
        count=$((count + 1))
    done
    for f in "$out"/*.swift; do
        [[ -e $f ]] || continue
        [[ " ${keep[*]} " == *" $(basename "$f") "* ]] || rm -f "$f"
    done
    ((count >= 1)) || { cg_log "no Swift snippet found in README.md (iOS quick start) or bindings-ios/README.md"; return 1; }
    cg_log "README snippets: $count"
}

cg_swift_build() {
    # SwiftPM does not track a library named by a module map's `link`: after
    # a new core is staged it would keep the test binary linked with the old
    # one. Removing the binary makes it link again (about a second).
    if [[ $CG_CORE_CHANGED == 1 ]]; then
        rm -f "$CG_IOS_DIR"/.build/*/debug/ConsentGatePackageTests.xctest
    fi
    cg_log "swift build --build-tests ($CG_LINK core)"
    (cd "$CG_IOS_DIR" && swift build --build-tests -Xswiftc -warnings-as-errors)
}

# Runs XCTest and sets CG_SUMMARY from the per-test lines: XCTest's own
# "Executed N tests, with M failures" counts failed assertions, not tests.
cg_run_tests() {
    local log="$CG_IOS_DIR/.build/xctest.log" tmp="$CG_IOS_DIR/.build/test-tmp"
    local filter=()
    if [[ $# -gt 0 ]]; then
        local IFS='|'
        filter=(--filter "$*")
    fi
    rm -rf "$tmp" && mkdir -p "$tmp"
    cg_log "swift test"
    local rc=0
    set +e
    (cd "$CG_IOS_DIR" && TMPDIR="$tmp" CONSENTGATE_ROOT="$CG_ROOT" CONSENTGATE_COLLECTOR="$CG_COLLECTOR" \
        swift test --skip-build --disable-swift-testing "${filter[@]}") 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    cg_stop_leftover_collectors "$tmp"
    local passed failed started
    passed=$(grep -cE "^Test Case '.*' passed \(" "$log" || true)
    failed=$(grep -cE "^Test Case '.*' failed \(" "$log" || true)
    started=$(grep -cE "^Test Case '.*' started at" "$log" || true)
    if ((started > passed + failed)); then
        echo "a test started but never finished (the test process died, exit status $rc): counted as failed"
        failed=$((failed + started - passed - failed))
    fi
    if ((rc != 0 && failed == 0)); then
        echo "swift test exited with status $rc without a failing test: counted as one failure"
        failed=1
    fi
    if ((passed + failed == 0)); then
        echo "no test ran: counted as one failure"
        failed=1
        rc=1
    fi
    CG_SUMMARY="swift: $passed passed, $failed failed"
    return "$rc"
}

# Collectors a test started stay alive if the test process died before its
# teardown; they are found by their database under this run's own TMPDIR.
cg_stop_leftover_collectors() {
    local tmp=$1 pid
    for pid in $(pgrep -f -- "--db $tmp/" || true); do
        cg_log "stopping leftover collector $pid"
        kill -9 "$pid" 2>/dev/null || true
    done
}

# The Swift figures: the Benchmarks package (the API one level up) built with
# `-c release` against the staged core, run once, its JSON written where the
# Rust report (`cargo run --release -p consentgate-bench -- --json`) reads it.
cg_bench() {
    local out="$CG_TARGET_DIR/consentgate-swift-bench.json"
    # The release core, as an app ships it: the background crossing and the
    # store compete with the caller for this machine's two cores. The next
    # test run stages the debug core again (and relinks).
    cg_log "cargo build --release -p consentgate"
    (cd "$CG_ROOT" && cargo build -q --release -p consentgate)
    cg_install_if_changed "$CG_TARGET_DIR/release/libconsentgate.a" "$CG_GENERATED/lib/libconsentgate.a"
    rm -f "$CG_GENERATED/lib/libconsentgate.so" "$CG_IOS_DIR/Benchmarks/.build/release/ConsentGateBench"
    cg_log "swift build -c release (Benchmarks)"
    (cd "$CG_IOS_DIR/Benchmarks" && swift build -q -c release)
    cg_log "Swift bench -> $out"
    "$CG_IOS_DIR/Benchmarks/.build/release/ConsentGateBench" "$CG_ROOT/examples/policies/example-kz.json" "$out"
}

cg_main() {
    local start=$SECONDS rc=0
    if [[ ${1:-} == --bench ]]; then
        CG_SUMMARY="swift bench"
        trap - EXIT
        cg_build_native
        cg_generate
        cg_bench
        return
    fi
    CG_SUMMARY=""
    trap 'if [[ -z $CG_SUMMARY ]]; then echo "the build failed before the tests ran"; CG_SUMMARY="swift: 0 passed, 1 failed"; fi; echo "$CG_SUMMARY"' EXIT
    command -v swift >/dev/null || { cg_log "swift is not on PATH"; return 1; }
    cg_build_native
    cg_generate
    cg_extract_readme
    cg_swift_build
    cg_run_tests "$@" || rc=$?
    cg_log "done in $((SECONDS - start)) s"
    return "$rc"
}

# Sourced (bench.sh, examples/swift-demo/run.sh): the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    cg_main "$@"
fi
