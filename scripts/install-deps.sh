#!/usr/bin/env bash
# Installs what logstream needs to build and test, from Debian's packages only.
# Idempotent: installs nothing when every package is already there.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
    libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev libjansson-dev
    libyaml-dev libzstd-dev libcmocka-dev libpq-dev postgresql libexpat1-dev
    libnats-dev nats-server
    python3 curl nginx openssl
    python3-pytest golang-go
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
