//! A reference system (automerge-repo on Node, samod) driven through its runner's CLI, as
//! the protocol fixes it: one JSON object on the last stdout line of every command.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::ensure;
use serde_json::Value;

use crate::proxy::Proxy;
use crate::system::{Server, free_port, run_json};

/// A runner and how to call it.
pub struct Reference {
    /// `node runner.mjs` or the samod binary.
    program: Vec<String>,
    /// `--flavor` for `serve` (node only).
    flavor: Option<String>,
    /// Longest a runner command may take.
    limit: Duration,
}

impl Reference {
    /// The automerge-repo runner (`runner.mjs`) with a server flavor.
    pub fn node(runner: &Path, flavor: &str, limit: Duration) -> anyhow::Result<Reference> {
        ensure!(runner.exists(), "runner missing: {}", runner.display());
        Ok(Reference {
            program: vec!["node".into(), runner.to_string_lossy().into_owned()],
            flavor: Some(flavor.into()),
            limit,
        })
    }

    /// The samod runner binary.
    pub fn samod(binary: &Path, limit: Duration) -> anyhow::Result<Reference> {
        ensure!(binary.exists(), "runner missing: {}", binary.display());
        Ok(Reference {
            program: vec![binary.to_string_lossy().into_owned()],
            flavor: None,
            limit,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..]).args(args);
        cmd
    }

    /// Runs one runner command.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Value> {
        run_json(self.command(args), self.limit)
    }

    /// Starts the runner's sync server on `storage`.
    pub fn serve(&self, storage: &Path) -> anyhow::Result<Server> {
        let port = free_port()?;
        let port_arg = port.to_string();
        let storage = storage.to_string_lossy();
        let mut args = vec!["serve", "--port", &port_arg, "--storage", &storage];
        if let Some(f) = &self.flavor {
            args.extend(["--flavor", f]);
        }
        Server::start(self.command(&args), port, true)
    }

    /// Seeds a fresh server storage in `work/storage` (state in `work/state`) once; the
    /// repetitions copy it.
    pub fn seed(&self, data: &Path, work: &Path, proxy: &Proxy) -> anyhow::Result<()> {
        let storage = work.join("storage");
        std::fs::create_dir_all(&storage)?;
        let server = self.serve(&storage)?;
        proxy.point_to(server.port);
        let state = work.join("state");
        std::fs::create_dir_all(&state)?;
        let out = self.run(&[
            "seed",
            "--url",
            &url(proxy),
            "--data",
            &data.to_string_lossy(),
            "--state",
            &state.to_string_lossy(),
        ]);
        server.stop()?;
        proxy.take_bytes();
        out.map(|_| ())
    }
}

/// The proxy's address for a reference client.
pub fn url(proxy: &Proxy) -> String {
    format!("ws://127.0.0.1:{}", proxy.port())
}

/// Copies a directory tree (the seeded server storage, for a repetition).
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<PathBuf> {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status()?;
    ensure!(status.success(), "cannot copy {}", from.display());
    Ok(to.to_owned())
}
