//! Processes under measurement: servers started as children, their peak memory and CPU
//! time from /proc, and what machine this is.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;

/// The machine the figures were taken on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// RAM in GiB.
    pub ram_gib: f64,
}

impl Machine {
    /// Reads /proc.
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(|| "unknown CPU".into(), |m| m.trim().to_owned());
        let cores = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let ram_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .unwrap_or(0.0);
        Machine {
            cpu,
            cores,
            ram_gib: ram_kib / 1024.0 / 1024.0,
        }
    }
}

/// A free port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A server process under measurement; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

/// What /proc says about a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Peak resident memory (VmHWM), MB.
    pub peak_rss_mb: f64,
    /// User + system CPU time, seconds.
    pub cpu_seconds: f64,
}

impl Server {
    /// Starts `cmd` and waits until `ready` says its stdout line means it is listening on
    /// `port`, or, without a stdout signal, until the port accepts connections.
    pub fn start(mut cmd: Command, port: u16, stdout_signal: bool) -> anyhow::Result<Server> {
        cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
        cmd.stdout(if stdout_signal {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().context("cannot start the server")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        if let Some(out) = child.stdout.take() {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let listening = serde_json::from_str::<serde_json::Value>(&line)
                        .ok()
                        .is_some_and(|v| v.get("listening").is_some());
                    if listening {
                        let _ = tx.send(());
                    }
                }
            });
            let waited = rx.recv_timeout(Duration::from_secs(60));
            if waited.is_err() {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the server did not say it listens within 60 s");
            }
        }
        let server = Server { child, port };
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("the server does not accept connections on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Peak memory and CPU time so far.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        usage(self.child.id())
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s); returns its usage just before.
    pub fn stop(mut self) -> anyhow::Result<Usage> {
        let used = self.usage();
        self.terminate();
        used
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Peak memory and CPU time of process `pid`, from /proc.
pub fn usage(pid: u32) -> anyhow::Result<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm_kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("no VmHWM")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> f64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    let cpu_ticks = ticks(11) + ticks(12);
    Ok(Usage {
        peak_rss_mb: hwm_kib / 1024.0,
        cpu_seconds: cpu_ticks / clock_ticks(),
    })
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Runs a command to its end within `limit`; returns the JSON object on its last stdout
/// line, or why it failed (its last stderr lines).
pub fn run_json(mut cmd: Command, limit: Duration) -> anyhow::Result<serde_json::Value> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("cannot start the runner")?;
    let (out, err) = (
        child.stdout.take().context("stdout")?,
        child.stderr.take().context("stderr")?,
    );
    let out = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let err = std::thread::spawn(move || {
        BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    // The last words of the runner, without stack frames (which say where, not what).
    let words: Vec<&String> = err
        .iter()
        .filter(|l| !l.trim_start().starts_with("at ") && !l.trim().is_empty())
        .collect();
    let tail = words[words.len().saturating_sub(3)..]
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(" / ");
    match status {
        None => bail!("timed out after {} s", limit.as_secs()),
        Some(s) if !s.success() => bail!("exited with {s}: {tail}"),
        Some(_) => {
            let last = out.last().context("no output")?;
            serde_json::from_str(last)
                .with_context(|| "the last stdout line is not JSON".to_owned())
        }
    }
}
