//! The fuzz targets: each takes one input and panics on a finding.

pub mod client_message;
pub mod device_receive;
pub mod document;
pub mod http_api;
pub mod server_session;

use arbitrary::Unstructured;

use crate::fixture::Fixture;
use crate::generate::Pool;
use crate::mutate::Rng;

/// Every target, in the order `run --all` runs them.
pub const NAMES: [&str; 5] = [
    "client_message",
    "server_session",
    "device_receive",
    "document",
    "http_api",
];

/// A fuzz target with whatever state it sets up once (a template store, a runtime).
pub trait Target {
    /// Runs one input; panics on a finding.
    fn run(&mut self, data: &[u8]);

    /// Builds an input from structure rather than by mutating bytes, where the target has
    /// a structure worth building; `None` when it does not.
    fn generate(
        &self,
        _u: &mut Unstructured<'_>,
        _pool: &Pool,
    ) -> arbitrary::Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// Mutates the Automerge bytes an input carries where they sit (inside a message, behind
    /// a selector byte), keeping the rest intact; `None` when it carries none.
    fn mutate_inside(&self, _rng: &mut Rng, _input: &[u8], _pool: &Pool) -> Option<Vec<u8>> {
        None
    }

    /// The frames an input carries, for collecting a [`Pool`] from the corpus.
    fn frames<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        vec![data]
    }
}

/// The target called `name`, set up against `fixture`.
pub fn target(name: &str, fixture: &Fixture) -> anyhow::Result<Box<dyn Target>> {
    Ok(match name {
        "client_message" => Box::new(client_message::ClientMessageTarget),
        "server_session" => Box::new(server_session::ServerSessionTarget::new(fixture)?),
        "device_receive" => Box::new(device_receive::DeviceReceiveTarget::new(fixture)?),
        "document" => Box::new(document::DocumentTarget::new(fixture)?),
        "http_api" => Box::new(http_api::HttpApiTarget::new()?),
        _ => anyhow::bail!("no target {name}; targets: {}", NAMES.join(", ")),
    })
}

/// Where targets keep their per-run files: memory-backed when the machine has it.
pub fn scratch_dir(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    Ok(if shm.is_dir() {
        b.tempdir_in(shm)?
    } else {
        b.tempdir()?
    })
}

/// Copies a closed SQLite database (and its write-ahead log, if one was left) to `to`.
pub(crate) fn copy_db(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let target = with_suffix(to, suffix);
        match std::fs::remove_file(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let source = with_suffix(from, suffix);
        if source.exists() {
            std::fs::copy(source, target)?;
        }
    }
    Ok(())
}

fn with_suffix(p: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}
