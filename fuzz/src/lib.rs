//! Fuzzing on stable Rust: one target per decoder of untrusted bytes, a seeded mutation loop
//! without coverage feedback, and the corpus and regression inputs they run on.
//!
//! Every target is a [`targets::Target`]: it takes one input and panics on a finding (a
//! panic escaping the product, a 5xx from the HTTP API, or state that no longer loads
//! after hostile input). The binary runs each target in a child process under a capped
//! allocator, so an over-allocation or an abort is a finding too. See `fuzz/README.md`.

pub mod fixture;
pub mod framing;
pub mod generate;
pub mod mutate;
pub mod seeds;
pub mod targets;

use std::path::{Path, PathBuf};

/// The crate's directory: `corpus/`, `regressions/` and `fixture/` live here.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The committed corpus of a target.
pub fn corpus_dir(target: &str) -> PathBuf {
    crate_dir().join("corpus").join(target)
}

/// The committed regression inputs of a target: every finding, fixed in the product.
pub fn regressions_dir(target: &str) -> PathBuf {
    crate_dir().join("regressions").join(target)
}

/// The files of a directory, sorted by name; none when it does not exist.
pub fn inputs_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                let p = e?.path();
                if p.is_file() {
                    out.push(p);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort();
    Ok(out)
}

/// The name a finding is stored under: the input's SHA-256, hex, shortened.
pub fn input_name(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(data)[..12])
}
