#!/usr/bin/env bash
# Installs what building the workspace needs on a fresh Debian machine with a Rust toolchain:
# rustfmt and clippy, and libclang for the RocksDB bindings of the state stores.
# Safe to run again: it only installs what is missing.
set -euo pipefail

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi

if ! dpkg -s libclang-dev >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libclang-dev >/dev/null
fi
