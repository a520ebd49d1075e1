//! A byte-counting TCP proxy on loopback: every system's client talks to its server through
//! it, so that wire bytes are counted the same way for all (TCP payload both ways: HTTP
//! upgrade, WebSocket framing and messages).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

/// The proxy: listens for its whole life; the server behind it can change (a restarted
/// server gets a new port while a device keeps the address it enrolled with).
pub struct Proxy {
    port: u16,
    upstream: Arc<AtomicU16>,
    bytes: Arc<AtomicU64>,
}

impl Proxy {
    /// Starts listening on 127.0.0.1 on a free port.
    pub fn start() -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let upstream = Arc::new(AtomicU16::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (up, counted) = (upstream.clone(), bytes.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let port = up.load(Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                    // No server behind: the client sees a closed connection, as it would.
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let (a, b) = (counted.clone(), counted.clone());
                std::thread::spawn(move || pump(client, server, &a));
                std::thread::spawn(move || pump(s2, c2, &b));
            }
        });
        Ok(Proxy {
            port,
            upstream,
            bytes,
        })
    }

    /// The address clients use.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends new connections to the server on `port`.
    pub fn point_to(&self, port: u16) {
        self.upstream.store(port, Ordering::SeqCst);
    }

    /// Bytes carried both ways since the last call; starts counting afresh.
    pub fn take_bytes(&self) -> u64 {
        self.bytes.swap(0, Ordering::SeqCst)
    }
}

/// Copies one direction until it ends, counting; then ends the other side's writing so
/// that a close travels through.
fn pump(mut from: TcpStream, mut to: TcpStream, counted: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                counted.fetch_add(k as u64, Ordering::Relaxed);
                if to.write_all(&buf[..k]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_byte_both_ways_and_follows_a_restarted_server() {
        let proxy = Proxy::start().expect("proxy");
        for round in 0..2 {
            // An echo server on a new port each round, as after a restart.
            let server = TcpListener::bind("127.0.0.1:0").expect("bind");
            proxy.point_to(server.local_addr().expect("addr").port());
            let echo = std::thread::spawn(move || {
                let (mut s, _) = server.accept().expect("accept");
                let mut got = Vec::new();
                s.read_to_end(&mut got).expect("read");
                s.write_all(&got).expect("write");
            });
            let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).expect("connect");
            let sent = vec![round as u8; 100_000];
            c.write_all(&sent).expect("send");
            c.shutdown(Shutdown::Write).expect("half-close");
            let mut back = Vec::new();
            c.read_to_end(&mut back).expect("echo");
            echo.join().expect("echo thread");
            assert_eq!(back, sent);
            assert_eq!(proxy.take_bytes(), 200_000);
        }
    }
}
