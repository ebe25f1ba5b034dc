#!/usr/bin/env bash
# Builds the Kotlin API and runs its JUnit tests on a plain JVM, loading the
# host-built core through JNA. No Gradle and no Android SDK needed.
#
#   bindings-android/jvm-test.sh                 # everything
#   bindings-android/jvm-test.sh ConsentFlowTest # only these test classes
#   bindings-android/jvm-test.sh --bench         # the tests, then the JVM benchmark
#   CONSENTGATE_BENCH=1 bindings-android/jvm-test.sh   # same
#
# Steps: install what is missing (kotlinc from npm into a cache folder; JNA and
# JUnit from apt), build the core cdylib (debug: library mode reads the
# metadata stripping would remove), generate the Kotlin bindings into
# build/jvm/generated (and the Swift ones, to fail when the generator fails),
# compile generated code + wrapper, the Android adapters against the stubs in
# src/stubs (compile-only), the tests, then run JUnit. A compile step is
# skipped when none of its inputs changed.
#
# The benchmark (src/bench/kotlin, only with --bench or CONSENTGATE_BENCH=1)
# runs after the tests pass, against the release build of the core, and
# writes target/consentgate-kotlin-bench.json for the Rust report
# (`cargo run --release -p consentgate-bench -- --json`).
#
# The last line is `kotlin: N passed, M failed`; the exit status is non-zero
# on any failure. Sourced (examples/jvm-demo/run.sh does), this file only
# defines the cg_* functions.
set -euo pipefail

CG_ANDROID_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CG_ROOT="$(cd "$CG_ANDROID_DIR/.." && pwd)"
CG_BUILD="${CG_BUILD_DIR:-$CG_ANDROID_DIR/build/jvm}"
CG_CACHE="${CONSENTGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/consentgate}"
CG_KOTLIN_VERSION=2.4.20
CG_KOTLIN_HOME="$CG_CACHE/kotlin/node_modules/kotlin-compiler"
CG_JAVA_SHARE="${CG_JAVA_SHARE:-/usr/share/java}"
CG_TARGET_DIR="${CARGO_TARGET_DIR:-$CG_ROOT/target}"

cg_log() { printf '==> %s\n' "$*" >&2; }

cg_apt_install() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { cg_log "need root (or sudo) to apt-get install $*"; return 1; }
        sudo=(sudo)
    fi
    cg_log "apt-get install $*"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}

# Installs only what is missing: a JDK, JNA + JUnit 4 (Debian jars), kotlinc.
cg_ensure_tools() {
    if ! command -v javac >/dev/null; then cg_apt_install default-jdk-headless; fi
    if [[ ! -f $CG_JAVA_SHARE/jna.jar || ! -f $CG_JAVA_SHARE/junit4.jar ]]; then
        cg_apt_install libjna-java junit4
    fi
    if [[ ! -f $CG_KOTLIN_HOME/bin/kotlinc ]]; then
        command -v npm >/dev/null || cg_apt_install npm
        cg_log "npm install kotlin-compiler@$CG_KOTLIN_VERSION into $CG_CACHE/kotlin"
        mkdir -p "$CG_CACHE/kotlin"
        npm install --prefix "$CG_CACHE/kotlin" --no-audit --no-fund --loglevel=error \
            "kotlin-compiler@$CG_KOTLIN_VERSION" >/dev/null
    fi
    local hamcrest
    for hamcrest in hamcrest-core.jar hamcrest.jar; do
        [[ -f $CG_JAVA_SHARE/$hamcrest ]] && break
    done
    local lib="$CG_KOTLIN_HOME/lib"
    CG_CP_JNA="$CG_JAVA_SHARE/jna.jar"
    CG_CP_COROUTINES="$lib/kotlinx-coroutines-core-jvm.jar"
    CG_CP_JUNIT="$CG_JAVA_SHARE/junit4.jar:$CG_JAVA_SHARE/$hamcrest:$lib/kotlin-test.jar:$lib/kotlin-test-junit.jar:$lib/kotlin-reflect.jar"
    CG_CP_STDLIB="$lib/kotlin-stdlib.jar"
}

# Builds the core cdylib and the workspace's uniffi-bindgen, then snapshots the
# library into build/jvm/native: the generated code and the tests use that one
# copy, so a concurrent `cargo build` cannot swap it between generation and
# loading (UniFFI checks that they match).
cg_build_native() {
    cg_log "cargo build -p consentgate (debug cdylib + uniffi-bindgen)"
    (cd "$CG_ROOT" && cargo build -q -p consentgate --features bindgen --bin uniffi-bindgen &&
        cargo build -q -p consentgate)
    local ext=so
    [[ $(uname -s) == Darwin ]] && ext=dylib
    mkdir -p "$CG_BUILD/native"
    cp "$CG_TARGET_DIR/debug/libconsentgate.$ext" "$CG_BUILD/native/.libconsentgate.$ext.tmp"
    mv -f "$CG_BUILD/native/.libconsentgate.$ext.tmp" "$CG_BUILD/native/libconsentgate.$ext"
    CG_NATIVE_LIB="$CG_BUILD/native/libconsentgate.$ext"
    CG_BINDGEN="$CG_TARGET_DIR/debug/uniffi-bindgen"
}

# Regenerates the bindings from the library (library mode). Generated code is
# never committed: it is rebuilt here and by the Gradle build.
cg_generate() {
    local out="$CG_BUILD/generated"
    rm -rf "$out/kotlin.tmp" "$out/swift"
    mkdir -p "$out"
    cg_log "uniffi-bindgen generate --language kotlin"
    (cd "$CG_ROOT" && "$CG_BINDGEN" generate --no-format \
        --language kotlin --out-dir "$out/kotlin.tmp" "$CG_NATIVE_LIB")
    # Keep the old tree (and its timestamps) when nothing changed.
    if ! diff -rq "$out/kotlin.tmp" "$out/kotlin" >/dev/null 2>&1; then
        rm -rf "$out/kotlin" && mv "$out/kotlin.tmp" "$out/kotlin"
    else
        rm -rf "$out/kotlin.tmp"
    fi
    cg_log "uniffi-bindgen generate --language swift"
    (cd "$CG_ROOT" && "$CG_BINDGEN" generate --no-format --language swift --out-dir "$out/swift" "$CG_NATIVE_LIB")
    [[ -s $out/swift/ConsentGateFFI.swift && -s $out/swift/ConsentGateFFIFFI.h ]] ||
        { cg_log "the Swift generator produced no ConsentGateFFI.swift/ConsentGateFFIFFI.h"; return 1; }
}

# Prints a digest of the given files and directories (sources, jars, stamps).
cg_fingerprint() {
    local p
    for p in "$@"; do
        if [[ -d $p ]]; then
            find "$p" -type f \( -name '*.kt' -o -name '*.java' \) -print0 | sort -z | xargs -0 -r sha256sum
        elif [[ -f $p ]]; then
            sha256sum "$p"
        else
            echo "absent $p"
        fi
    done | sha256sum | cut -d' ' -f1
}

# cg_compile NAME KIND CLASSPATH FLAGS -- INPUTS...
# Compiles the .kt (KIND=kotlin) or .java (KIND=java) files under INPUTS into
# build/jvm/classes/NAME, unless its stamp says the same inputs and classpath
# were already compiled. Classpath entries that are our own class directories
# are fingerprinted through their stamps.
cg_compile() {
    local name=$1 kind=$2 cp=$3 flags=$4
    shift 5
    local out="$CG_BUILD/classes/$name" stamp="$CG_BUILD/stamps/$name"
    local deps=() entry
    IFS=: read -ra entries <<<"$cp"
    for entry in "${entries[@]}"; do
        if [[ $entry == "$CG_BUILD/classes/"* ]]; then deps+=("$CG_BUILD/stamps/${entry##*/}"); else deps+=("$entry"); fi
    done
    local fp
    fp=$(printf '%s\n' "$kind $flags" "$(cg_fingerprint "$@" "${deps[@]}")" | sha256sum | cut -d' ' -f1)
    if [[ -d $out && -f $stamp && $(<"$stamp") == "$fp" ]]; then
        cg_log "compile $name: up to date"
        return 0
    fi
    local ext=kt
    [[ $kind == java ]] && ext=java
    local files=()
    mapfile -t files < <(find "$@" -type f -name "*.$ext" | sort)
    cg_log "compile $name (${#files[@]} files)"
    rm -rf "$out" "$stamp"
    mkdir -p "$out" "$CG_BUILD/stamps"
    # shellcheck disable=SC2086 # flags are words
    if [[ $kind == java ]]; then
        javac -nowarn -encoding UTF-8 --release 11 $flags -d "$out" ${cp:+-cp "$cp"} "${files[@]}"
    else
        JAVA_OPTS="${JAVA_OPTS:--Xmx1g -Xss4m -XX:+UseParallelGC}" bash "$CG_KOTLIN_HOME/bin/kotlinc" \
            -jvm-target 17 $flags -d "$out" ${cp:+-cp "$cp"} "${files[@]}"
    fi
    echo "$fp" >"$stamp"
}

# Compiles the generated code and the Kotlin API (what an app links).
cg_compile_library() {
    local c="$CG_BUILD/classes" src="$CG_ANDROID_DIR/src"
    cg_compile ffi kotlin "$CG_CP_JNA" "-nowarn -module-name consentgate-ffi" -- "$CG_BUILD/generated/kotlin"
    local wrapper=()
    mapfile -t wrapper < <(find "$src/main/kotlin/dev/consentgate" -maxdepth 1 -name '*.kt' | sort)
    cg_compile main kotlin "$c/ffi:$CG_CP_JNA:$CG_CP_COROUTINES" "-module-name consentgate -Werror" -- "${wrapper[@]}"
}

# Compiles the library, the Android adapters (against the stubs, which stay
# off every runtime classpath) and the tests.
cg_compile_all() {
    local c="$CG_BUILD/classes" src="$CG_ANDROID_DIR/src"
    cg_compile_library
    cg_compile stubs java "" "" -- "$src/stubs"
    # One module with the API, as in the Gradle build (the adapters use its
    # internal openDeferred); no generated code on the classpath: the
    # adapters use the Kotlin API only.
    cg_compile android kotlin "$c/main:$c/stubs:$CG_CP_COROUTINES" \
        "-module-name consentgate -Xfriend-paths=$c/main -Werror" -- "$src/main/kotlin/dev/consentgate/android"
    # The tests see what an app sees: the API, not the generated code.
    cg_compile test kotlin "$c/main:$CG_CP_COROUTINES:$CG_CP_JUNIT" \
        "-module-name consentgate-test" -- "$src/test/kotlin"
    cg_compile_readme
}

# Extracts the ```kotlin blocks of the root README's "Android quick start"
# and of bindings-android/README.md into build/jvm/readme, one file each:
# a block that declares a class, object or interface at its top level is a
# file as it stands; any other is wrapped in `fun ReadmeScope.snippet() { ... }`
# (src/readme: the names an Activity has; its own `fun`s become local ones),
# its imports hoisted. A block starting with a comment naming
# a *.gradle.kts file is build script and skipped. Prints the number of
# snippets written.
cg_extract_readme() {
    local out=$1
    rm -rf "$out" && mkdir -p "$out"
    awk -v out="$out" '
        FNR == 1 { tag = (FILENAME ~ /bindings-android/) ? "android" : "root"; section = (tag == "android"); n = 0 }
        tag == "root" && /^## / { section = ($0 == "## Android quick start") }
        !section { next }
        !inblock && /^[ ]*```kotlin[ ]*$/ {
            inblock = 1; indent = index($0, "`") - 1; n++
            file = sprintf("%s/%s_%02d.raw", out, tag, n)
            printf "// %s line %d\n", FILENAME, FNR + 1 > file
            next
        }
        inblock && /^[ ]*```[ ]*$/ { inblock = 0; close(file); next }
        inblock {
            line = $0
            if (substr(line, 1, indent) ~ /^ *$/) line = substr(line, indent + 1)
            print line > file
        }
    ' "$CG_ROOT/README.md" "$CG_ANDROID_DIR/README.md"
    local raw base count=0
    for raw in "$out"/*.raw; do
        [[ -e $raw ]] || continue
        base=$(basename "$raw" .raw)
        if sed -n 2p "$raw" | grep -Eq '^// .*\.gradle\.kts'; then rm -f "$raw"; continue; fi
        {
            head -1 "$raw"
            echo "package readme.$base"
            echo "import readme.ReadmeScope"
            tail -n +2 "$raw" | grep -E '^import ' || true
            if tail -n +2 "$raw" | grep -Eq '^((data|sealed|abstract|open) )?(class|object|interface) '; then
                tail -n +2 "$raw" | grep -Ev '^import '
            else
                echo "fun ReadmeScope.snippet() {"
                tail -n +2 "$raw" | grep -Ev '^import '
                echo "}"
            fi
        } >"$out/$base.kt"
        rm -f "$raw"
        count=$((count + 1))
    done
    echo "$count"
}

# Compiles the README snippets against the API, the Android adapters and the
# stubs: a quick start that no longer compiles fails the build.
cg_compile_readme() {
    local c="$CG_BUILD/classes" n
    n=$(cg_extract_readme "$CG_BUILD/readme")
    [[ $n -ge 4 ]] || { cg_log "only $n Kotlin snippets found in the READMEs"; return 1; }
    cg_log "README snippets: $n"
    cg_compile readme kotlin "$c/main:$c/android:$c/stubs:$CG_CP_COROUTINES" \
        "-module-name consentgate-readme" -- "$CG_BUILD/readme" "$CG_ANDROID_DIR/src/readme"
}

# The runtime classpath of the tests and the demo: no stubs, no Android adapters.
cg_runtime_classpath() {
    local c="$CG_BUILD/classes"
    echo "$c/ffi:$c/main:$CG_CP_JNA:$CG_CP_COROUTINES:$CG_CP_STDLIB"
}

# Runs `java` with the native library where JNA looks for it.
cg_java() {
    java -Djna.library.path="$(dirname "$CG_NATIVE_LIB")" -Dconsentgate.root="$CG_ROOT" "$@"
}

cg_run_tests() {
    local classes=("$@") log="$CG_BUILD/junit.log"
    if [[ ${#classes[@]} -eq 0 ]]; then
        mapfile -t classes < <(cd "$CG_BUILD/classes/test" && find . -name '*Test.class' ! -name '*$*' |
            sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
    else
        classes=("${classes[@]/#/dev.consentgate.}")
        classes=("${classes[@]/#dev.consentgate.dev.consentgate./dev.consentgate.}")
    fi
    cg_log "JUnit: ${#classes[@]} test classes"
    local rc=0
    set +e
    # consentgate.classes: where ApiShapeTest finds the compiled API, the
    # adapters and the stubs it loads them with.
    cg_java -Dconsentgate.classes="$CG_BUILD/classes" \
        -cp "$CG_BUILD/classes/test:$(cg_runtime_classpath):$CG_CP_JUNIT" \
        org.junit.runner.JUnitCore "${classes[@]}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    local run=0 failed=0 line
    if line=$(grep -E '^OK \([0-9]+ tests?\)' "$log" | tail -1); [[ -n $line ]]; then
        run=$(sed -E 's/^OK \(([0-9]+).*/\1/' <<<"$line")
    elif line=$(grep -E '^Tests run: [0-9]+, +Failures: [0-9]+' "$log" | tail -1); [[ -n $line ]]; then
        run=$(sed -E 's/^Tests run: ([0-9]+).*/\1/' <<<"$line")
        failed=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
    else
        echo "JUnit printed no summary (exit status $rc): counted as one failure"
        failed=1
    fi
    [[ $rc -ne 0 && $failed -eq 0 ]] && failed=1
    CG_SUMMARY="kotlin: $((run - (failed > run ? run : failed))) passed, $failed failed"
    return "$rc"
}

# The JVM benchmark of the Kotlin API (dev.consentgate.bench.KotlinBench)
# against the release-profile core (opt-level s, LTO: what apps ship). The
# bindings generated from the debug build fit it: UniFFI's checksums come
# from the API, not the profile, and are checked when the library loads.
cg_run_bench() {
    cg_log "cargo build --release -p consentgate (the library the benchmark loads)"
    (cd "$CG_ROOT" && cargo build -q --release -p consentgate)
    local ext=so
    [[ $(uname -s) == Darwin ]] && ext=dylib
    local native="$CG_BUILD/native-release"
    mkdir -p "$native"
    cp "$CG_TARGET_DIR/release/libconsentgate.$ext" "$native/.libconsentgate.$ext.tmp"
    mv -f "$native/.libconsentgate.$ext.tmp" "$native/libconsentgate.$ext"
    local c="$CG_BUILD/classes"
    cg_compile bench kotlin "$c/ffi:$c/main:$CG_CP_JNA:$CG_CP_COROUTINES" \
        "-module-name consentgate-bench" -- "$CG_ANDROID_DIR/src/bench/kotlin"
    cg_log "JVM benchmark (load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown))"
    java -Djna.library.path="$native" -cp "$c/bench:$(cg_runtime_classpath)" \
        dev.consentgate.bench.KotlinBenchKt \
        "$CG_ROOT/examples/policies/example-kz.json" "$CG_TARGET_DIR/consentgate-kotlin-bench.json"
}

cg_main() {
    local start=$SECONDS rc=0 bench=${CONSENTGATE_BENCH:-0} args=() a
    for a in "$@"; do
        if [[ $a == --bench ]]; then bench=1; else args+=("$a"); fi
    done
    CG_SUMMARY=""
    trap 'if [[ -z $CG_SUMMARY ]]; then echo "the build failed before the tests ran"; CG_SUMMARY="kotlin: 0 passed, 1 failed"; fi; echo "$CG_SUMMARY"' EXIT
    cg_ensure_tools
    cg_build_native
    cg_generate
    cg_compile_all
    cg_run_tests "${args[@]}" || rc=$?
    if [[ $bench == 1 ]]; then
        if [[ $rc -eq 0 ]]; then
            cg_run_bench || rc=$?
        else
            cg_log "benchmark skipped: the tests failed"
        fi
    fi
    cg_log "done in $((SECONDS - start)) s"
    return "$rc"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    cg_main "$@"
fi
