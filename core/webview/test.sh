#!/usr/bin/env bash
# The WebView script in headless Chromium: installs Debian's `chromium` when it
# is missing (as root, or through sudo), then runs core/tests/webview.rs. If it
# cannot be installed, the test says so in one line and runs the script's
# logic under Node instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    as_root=()
    [ "$(id -u)" = 0 ] || as_root=(sudo -n)
    install() {
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y --no-install-recommends chromium >>/tmp/consentgate-chromium.log 2>&1
    }
    # A fresh machine may have no package lists yet: update once, then retry.
    if command -v apt-get >/dev/null 2>&1 &&
        { install || { "${as_root[@]}" apt-get update >>/tmp/consentgate-chromium.log 2>&1 && install; }; }; then
        echo "webview: installed chromium"
    else
        echo "webview: chromium could not be installed (see /tmp/consentgate-chromium.log); the test falls back to Node"
    fi
fi
cargo test -p consentgate --locked --test webview -- --nocapture
