#!/usr/bin/env bash
# Installs what building the workspace needs on a fresh Debian machine with a Rust toolchain:
# rustfmt and clippy, libclang for the RocksDB bindings of the state stores, OpenSSL's headers
# and pkg-config for librdkafka's TLS and SASL (it links the system's OpenSSL, which Debian
# keeps patched, rather than compiling a vendored OpenSSL on every clean build), and a Java 17
# JDK with Maven for the Apache Kafka broker of the end-to-end tests (scripts/kafka.sh) and
# the Apicurio Registry of the Avro tests (scripts/apicurio.sh, which compiles one class).
# Safe to run again: it only installs what is missing.
set -euo pipefail

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi

missing=()
for package in libclang-dev libssl-dev pkg-config; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
