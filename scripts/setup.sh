#!/usr/bin/env bash
# Installs what adallava needs to build and run on Debian/Ubuntu: GSL, OpenBLAS, SQLite,
# pkg-config, libpng and libjpeg. Idempotent: does nothing when every package is already installed.
set -euo pipefail

packages=(libgsl-dev libopenblas-dev libsqlite3-dev pkg-config libpng-dev libjpeg62-turbo-dev)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "setup: ${packages[*]} already installed"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: error: the Swift toolchain (6.1 or later) is not on PATH" >&2
    exit 1
fi
