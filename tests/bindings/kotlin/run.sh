#!/usr/bin/env bash
# Compiles the generated Kotlin bindings with the test, as an Android app would use them
# (JNA, no Android SDK), and runs it on the JVM against the debug library.
# Expects scripts/bindgen.sh to have run. Usage: tests/bindings/kotlin/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."

kotlin=.tools/npm/node_modules/kotlin-compiler
jna=/usr/share/java/jna.jar
target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/kotlin-tests"
rm -rf "$out" && mkdir -p "$out"
java -cp "$kotlin/lib/*" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
  -kotlin-home "$kotlin" -no-reflect -nowarn -jvm-target 17 \
  -cp "$jna:$kotlin/lib/kotlin-test.jar" -d "$out" \
  "$target_dir/bindings/kotlin/nl/keukentafel/keukentafel.kt" tests/bindings/kotlin/TeamServer.kt tests/bindings/kotlin/PractitionerDay.kt
KEUKENTAFEL_SERVER="$target_dir/debug/keukentafel-server" \
  java -Djna.library.path="$target_dir/debug" \
  -cp "$out:$jna:$kotlin/lib/kotlin-stdlib.jar:$kotlin/lib/kotlin-test.jar" PractitionerDayKt
