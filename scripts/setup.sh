#!/usr/bin/env bash
# Installs what building and testing Keukentafel needs, when missing. Idempotent, and quick
# when everything is already there.
set -euo pipefail

need_apt=()
# The bundled SQLCipher builds its own OpenSSL: that needs a C compiler, make and perl.
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v perl >/dev/null 2>&1 || need_apt+=(perl)

if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install the Rust toolchain (1.90 or newer) first" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "setup: installing the $component component"
    rustup component add "$component"
  fi
done
