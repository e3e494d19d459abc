//! A TCP forwarder beside the UDP proxy, on the same loopback port number: what a client
//! fetches over TCP from the address it dials QUIC at (the relay's certificate fingerprint,
//! `http://host:port/certificate.sha256`) reaches the relay too. It carries bytes as they
//! come, unimpaired. Bounded in time: it stops accepting by itself, and every connection it
//! carries ends with it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How often the acceptor and the copiers look at the clock.
const POLL: Duration = Duration::from_millis(50);

/// A running forwarder.
pub struct Forward {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Forward {
    /// Forward connections to `listen` (loopback) to `upstream` (loopback) for `duration`.
    pub fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        duration: Duration,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            listen.ip().is_loopback() && upstream.ip().is_loopback(),
            "the forwarder runs on loopback only ({listen} → {upstream})"
        );
        let listener = TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
        listener.set_nonblocking(true)?;
        let deadline = Instant::now() + duration;
        let stop = Arc::new(AtomicBool::new(false));
        let accepting = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut copiers = Vec::new();
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(POLL);
                        continue;
                    };
                    let Ok(server) = TcpStream::connect(upstream) else {
                        continue;
                    };
                    for (from, to) in [(&client, &server), (&server, &client)] {
                        let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                            continue;
                        };
                        let stop = stop.clone();
                        copiers.push(std::thread::spawn(move || {
                            copy(from, to, &stop, deadline);
                        }));
                    }
                }
                stop.store(true, Ordering::Relaxed);
                for copier in copiers {
                    let _ = copier.join();
                }
            })
        };
        Ok(Self {
            stop,
            threads: vec![accepting],
        })
    }

    /// Stop now.
    pub fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Copy `from` to `to` until either ends or the forwarder stops, then end both.
fn copy(mut from: TcpStream, mut to: TcpStream, stop: &AtomicBool, deadline: Instant) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_a_request_and_its_reply() {
        let server = TcpListener::bind("127.0.0.1:0").expect("bind");
        let upstream = server.local_addr().expect("address");
        let serving = std::thread::spawn(move || {
            let (mut stream, _) = server.accept().expect("accept");
            let mut request = [0u8; 5];
            stream.read_exact(&mut request).expect("request");
            stream.write_all(b"pong:").expect("reply");
            stream.write_all(&request).expect("reply");
        });
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        let listen = free.local_addr().expect("address");
        drop(free);
        let forward = Forward::start(listen, upstream, Duration::from_secs(10)).expect("start");
        let mut client = TcpStream::connect(listen).expect("connect");
        client.write_all(b"hello").expect("send");
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).expect("reply");
        assert_eq!(reply, b"pong:hello");
        serving.join().expect("server");
        forward.finish();
    }

    #[test]
    fn refuses_other_machines() {
        let outside: SocketAddr = "192.0.2.1:80".parse().expect("address");
        let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
        assert!(Forward::start(local, outside, Duration::from_secs(1)).is_err());
    }
}
