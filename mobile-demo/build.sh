#!/usr/bin/env bash
# Compiles the demo app (and, with --test, its UI test) against the generated Kotlin
# bindings. Expects scripts/bindgen.sh to have run. Prints the classpath to run it with.
set -euo pipefail
cd "$(dirname "$0")/.."
kotlin=.tools/npm/node_modules/kotlin-compiler
jna=/usr/share/java/jna.jar
target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/mobile-demo/classes"
sources=("$target_dir/bindings/kotlin/nl/keukentafel/keukentafel.kt" mobile-demo/src/nl/keukentafel/demo/*.kt)
[[ "${1:-}" == "--test" ]] && sources+=(tests/bindings/kotlin/TeamServer.kt mobile-demo/test/*.kt)
rm -rf "$out" && mkdir -p "$out"
java -cp "$kotlin/lib/*" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
  -kotlin-home "$kotlin" -no-reflect -nowarn -jvm-target 17 \
  -cp "$jna:$kotlin/lib/kotlin-test.jar" -d "$out" "${sources[@]}" >&2
echo "$out:$jna:$kotlin/lib/kotlin-stdlib.jar:$kotlin/lib/kotlin-test.jar"
