#!/usr/bin/env bash
# Builds and runs the JVM demo of consentgate's Kotlin API (src/.../Main.kt):
#   examples/jvm-demo/run.sh
# It reuses the toolchain functions of bindings-android/jvm-test.sh (kotlinc
# from npm, JNA from apt, the host-built core) and its build cache.
set -euo pipefail

DEMO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../bindings-android/jvm-test.sh
source "$DEMO_DIR/../../bindings-android/jvm-test.sh"

cg_ensure_tools
cg_build_native
cg_generate
cg_compile_library
cg_compile jvm-demo kotlin "$CG_BUILD/classes/main:$CG_CP_COROUTINES" \
    "-module-name consentgate-jvm-demo" -- "$DEMO_DIR/src"
echo
cg_java -cp "$CG_BUILD/classes/jvm-demo:$(cg_runtime_classpath)" dev.consentgate.demo.MainKt \
    "$CG_ROOT/examples/policies/example-kz.json"
