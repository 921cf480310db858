#!/usr/bin/env bash
# Installs what building the workspace needs on a fresh Debian machine with a Rust toolchain:
# rustfmt and clippy, libclang for the RocksDB bindings of the state stores, and OpenSSL's
# headers and pkg-config for librdkafka's TLS and SASL (it links the system's OpenSSL, which
# Debian keeps patched, rather than compiling a vendored OpenSSL on every clean build).
# Safe to run again: it only installs what is missing.
set -euo pipefail

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi

packages=(libclang-dev libssl-dev pkg-config)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
