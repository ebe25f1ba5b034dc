#!/usr/bin/env bash
# Builds Generated/ConsentGateFFIFFI.xcframework (the core as static libraries
# for iOS devices and simulators, with the generated header and a module map)
# and the generated Swift bindings, which Package.swift uses on Apple
# platforms. macOS only: needs Xcode (xcodebuild, lipo) and rustup.
#
#   bindings-ios/build-xcframework.sh
#
# Slices: ios-arm64 (aarch64-apple-ios) and ios-arm64_x86_64-simulator
# (aarch64-apple-ios-sim + x86_64-apple-ios, joined with lipo). The libraries
# are release builds (the workspace's release profile: opt-level s, LTO). The
# bindings are generated from the host's debug dylib, as swift-test.sh does on
# Linux: UniFFI's checksums come from the API, not the target or profile.
set -euo pipefail

IOS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$IOS_DIR/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$IOS_DIR/Generated"
WORK="$IOS_DIR/.build/xcframework"
TARGETS=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)

log() { printf '==> %s\n' "$*" >&2; }

[[ $(uname -s) == Darwin ]] || { log "build-xcframework.sh needs macOS with Xcode"; exit 1; }
for tool in xcodebuild lipo rustup cargo; do
    command -v "$tool" >/dev/null || { log "$tool not found"; exit 1; }
done

log "rustup target add ${TARGETS[*]}"
rustup target add "${TARGETS[@]}" >/dev/null

for target in "${TARGETS[@]}"; do
    # The staticlib alone (not together with the rlib and the cdylib of
    # Cargo.toml's crate types) is what the XCFramework holds; see
    # ARCHITECTURE.md, "Size".
    log "cargo rustc --release -p consentgate --crate-type staticlib --target $target"
    (cd "$ROOT" && cargo rustc -q --release -p consentgate --lib --crate-type staticlib --target "$target")
done

log "uniffi-bindgen generate --language swift (from the host debug dylib)"
(cd "$ROOT" && cargo build -q -p consentgate --features bindgen --bin uniffi-bindgen &&
    cargo build -q -p consentgate)
rm -rf "$WORK" && mkdir -p "$WORK/swift" "$WORK/headers/ConsentGateFFIFFI" "$WORK/ios" "$WORK/ios-simulator"
(cd "$ROOT" && "$TARGET_DIR/debug/uniffi-bindgen" generate --no-format --language swift \
    --out-dir "$WORK/swift" "$TARGET_DIR/debug/libconsentgate.dylib")

# The header and our own module map go in a folder named after the module:
# Xcode merges the Headers of every XCFramework into one include directory,
# where two top-level module.modulemap files would collide. The generator's
# module map is not used (its `use` lines are for its own layout); the binary
# target links the library, so no `link` line either.
cp "$WORK/swift/ConsentGateFFIFFI.h" "$WORK/headers/ConsentGateFFIFFI/"
cat >"$WORK/headers/ConsentGateFFIFFI/module.modulemap" <<'EOF'
module ConsentGateFFIFFI {
    header "ConsentGateFFIFFI.h"
    export *
}
EOF

cp "$TARGET_DIR/aarch64-apple-ios/release/libconsentgate.a" "$WORK/ios/libconsentgate.a"
log "lipo: aarch64-apple-ios-sim + x86_64-apple-ios"
lipo -create \
    "$TARGET_DIR/aarch64-apple-ios-sim/release/libconsentgate.a" \
    "$TARGET_DIR/x86_64-apple-ios/release/libconsentgate.a" \
    -output "$WORK/ios-simulator/libconsentgate.a"

log "xcodebuild -create-xcframework"
rm -rf "$OUT/ConsentGateFFIFFI.xcframework"
mkdir -p "$OUT/ConsentGateFFI"
xcodebuild -create-xcframework \
    -library "$WORK/ios/libconsentgate.a" -headers "$WORK/headers" \
    -library "$WORK/ios-simulator/libconsentgate.a" -headers "$WORK/headers" \
    -output "$OUT/ConsentGateFFIFFI.xcframework"
cp "$WORK/swift/ConsentGateFFI.swift" "$OUT/ConsentGateFFI/ConsentGateFFI.swift"
log "done: $OUT/ConsentGateFFIFFI.xcframework and $OUT/ConsentGateFFI/ConsentGateFFI.swift"
