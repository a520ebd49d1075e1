//! `cargo run -p uniffi-bindgen -- generate --library <lib> --language kotlin --out-dir <dir>`:
//! the uniffi generator at exactly the version the FFI crate is built with.

fn main() {
    uniffi::uniffi_bindgen_main()
}
