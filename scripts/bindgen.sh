#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python bindings from the built FFI library, with the
# uniffi-bindgen pinned in the workspace. Output: target/bindings/{kotlin,swift,python}.
# Usage: scripts/bindgen.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
cargo_flags=()
if [[ "${1:-}" == "--release" ]]; then
  profile=release
  cargo_flags+=(--release)
fi
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --locked "${cargo_flags[@]}" -p keukentafel-ffi -p uniffi-bindgen
lib="$target_dir/$profile/libkeukentafel_ffi.so"
[[ -f "$lib" ]] || lib="$target_dir/$profile/libkeukentafel_ffi.dylib"
out="$target_dir/bindings"
rm -rf "$out"
for language in kotlin swift python; do
  "$target_dir/debug/uniffi-bindgen" generate --library "$lib" --language "$language" \
    --no-format --out-dir "$out/$language"
done
# The Python module loads the library from its own folder.
cp "$lib" "$out/python/"
echo "bindings: $out"
