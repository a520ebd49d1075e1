#!/usr/bin/env bash
# Installs what building and testing Keukentafel needs, when missing. Idempotent, and quick
# when everything is already there. Project-local tools go to .tools/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

KOTLIN_VERSION=2.4.20
PYTEST_VERSION=9.2.0

need_apt=()
# The bundled SQLCipher builds its own OpenSSL: that needs a C compiler, make and perl.
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v perl >/dev/null 2>&1 || need_apt+=(perl)
# The Kotlin binding tests run on the JVM with JNA, as an Android app does.
# The demo app needs the JDK with its desktop (AWT/Swing) libraries, not the headless one.
java_home=$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent/bin/java)")")")
[[ -f "$java_home/lib/libawt_xawt.so" ]] || need_apt+=(openjdk-17-jdk)
[[ -f /usr/share/java/jna.jar ]] || need_apt+=(libjna-java)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# The demo app's UI test runs in a virtual display.
command -v xvfb-run >/dev/null 2>&1 || need_apt+=(xvfb xauth)

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

# The Kotlin compiler, from its npm package, pinned.
kotlin_pkg=.tools/npm/node_modules/kotlin-compiler
if [[ "$(node -p "require('./$kotlin_pkg/package.json').version" 2>/dev/null)" != "$KOTLIN_VERSION" ]]; then
  echo "setup: installing kotlin-compiler $KOTLIN_VERSION"
  mkdir -p .tools/npm
  npm install --silent --no-audit --no-fund --prefix .tools/npm "kotlin-compiler@$KOTLIN_VERSION"
fi

# pytest for the Python binding tests, in a virtualenv of the project's own.
if ! .tools/venv/bin/python -c "import pytest, sys; sys.exit(pytest.__version__ != '$PYTEST_VERSION')" >/dev/null 2>&1; then
  echo "setup: installing pytest $PYTEST_VERSION"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "pytest==$PYTEST_VERSION"
fi
