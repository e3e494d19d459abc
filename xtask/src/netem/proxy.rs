//! The UDP impairment proxy: listens on a loopback port, forwards each client's datagrams to
//! the upstream (the relay's QUIC port) from a socket of its own, and the upstream's replies
//! back, every datagram through the [`Link`] of its direction. Bounded in time: it stops by
//! itself and returns what each direction did.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::link::{Counts, Fate, Link};
use super::profile::Profile;

/// How often the readers look at the clock when no datagram comes.
const POLL: Duration = Duration::from_millis(50);
/// The largest datagram carried.
const MAX_DATAGRAM: usize = 65_536;

/// What each direction did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Report {
    pub down: Counts,
    pub up: Counts,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "down: {}", self.down)?;
        writeln!(f, "up: {}", self.up)
    }
}

/// A running proxy.
pub struct Proxy {
    /// Where clients send to.
    pub address: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    links: Arc<Links>,
}

struct Links {
    down: Mutex<Link>,
    up: Mutex<Link>,
    started: Instant,
}

/// A datagram due at a time.
struct Due {
    at: Instant,
    sequence: u64,
    payload: Vec<u8>,
    socket: Arc<UdpSocket>,
    to: SocketAddr,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

/// The datagrams in flight, sent by one thread as each falls due.
#[derive(Default)]
struct Wire {
    queue: Mutex<(BinaryHeap<Reverse<Due>>, u64)>,
    changed: Condvar,
}

impl Wire {
    fn push(&self, at: Instant, payload: Vec<u8>, socket: Arc<UdpSocket>, to: SocketAddr) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.1 += 1;
        let sequence = queue.1;
        queue.0.push(Reverse(Due {
            at,
            sequence,
            payload,
            socket,
            to,
        }));
        self.changed.notify_one();
    }

    /// Send what falls due until `stop`.
    fn run(&self, stop: &AtomicBool) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            match queue.0.peek() {
                Some(Reverse(due)) if due.at <= now => {
                    let Some(Reverse(due)) = queue.0.pop() else {
                        continue;
                    };
                    drop(queue);
                    let _ = due.socket.send_to(&due.payload, due.to);
                    queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                }
                Some(Reverse(due)) => {
                    let wait = (due.at - now).min(POLL);
                    queue = self
                        .changed
                        .wait_timeout(queue, wait)
                        .map_or_else(|p| p.into_inner().0, |(queue, _)| queue);
                }
                None => {
                    queue = self
                        .changed
                        .wait_timeout(queue, POLL)
                        .map_or_else(|p| p.into_inner().0, |(queue, _)| queue);
                }
            }
        }
    }
}

impl Proxy {
    /// Proxy `upstream` through `profile`, listening on `listen` (port 0: one of its own), for
    /// `duration` at most; the seed makes the random draws repeatable.
    pub fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        profile: Profile,
        seed: u64,
        duration: Duration,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            listen.ip().is_loopback() && upstream.ip().is_loopback(),
            "the proxy runs on loopback only ({listen} → {upstream})"
        );
        let front = Arc::new(UdpSocket::bind(listen).with_context(|| format!("binding {listen}"))?);
        front.set_read_timeout(Some(POLL))?;
        let address = front.local_addr()?;
        let started = Instant::now();
        let deadline = started + duration;
        let links = Arc::new(Links {
            down: Mutex::new(Link::new(profile.down, seed)),
            up: Mutex::new(Link::new(profile.up, seed.wrapping_add(1))),
            started,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let wire = Arc::new(Wire::default());
        let mut threads = Vec::new();
        {
            let (wire, stop) = (wire.clone(), stop.clone());
            threads.push(std::thread::spawn(move || wire.run(&stop)));
        }
        {
            let (wire, stop, links) = (wire.clone(), stop.clone(), links.clone());
            threads.push(std::thread::spawn(move || {
                let mut clients: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
                let mut readers = Vec::new();
                let mut buf = vec![0u8; MAX_DATAGRAM];
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Ok((n, client)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    let back = match clients.get(&client) {
                        Some(back) => back.clone(),
                        None => {
                            let Ok(back) = UdpSocket::bind("127.0.0.1:0") else {
                                continue;
                            };
                            let _ = back.set_read_timeout(Some(POLL));
                            let back = Arc::new(back);
                            clients.insert(client, back.clone());
                            // The upstream's replies to this client, back through `down`.
                            let (wire, stop, links) = (wire.clone(), stop.clone(), links.clone());
                            let (reply, front) = (back.clone(), front.clone());
                            readers.push(std::thread::spawn(move || {
                                let mut buf = vec![0u8; MAX_DATAGRAM];
                                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                                    if let Ok((n, _)) = reply.recv_from(&mut buf) {
                                        links.carry(&links.down, &wire, &buf[..n], &front, client);
                                    }
                                }
                            }));
                            back
                        }
                    };
                    links.carry(&links.up, &wire, &buf[..n], &back, upstream);
                }
                stop.store(true, Ordering::Relaxed);
                for reader in readers {
                    let _ = reader.join();
                }
            }));
        }
        Ok(Self {
            address,
            stop,
            threads,
            links,
        })
    }

    /// Stop now (or wait for the end of its time) and say what it did.
    pub fn finish(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        let counts = |link: &Mutex<Link>| link.lock().unwrap_or_else(|p| p.into_inner()).counts;
        Report {
            down: counts(&self.links.down),
            up: counts(&self.links.up),
        }
    }

    /// Run until its time is up, then say what it did.
    pub fn wait(self) -> Report {
        // The front thread stops at the deadline and raises `stop` for the others.
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(POLL);
        }
        self.finish()
    }
}

impl Links {
    /// Put `payload` through `link` and on the wire, to `to` from `socket`.
    fn carry(
        &self,
        link: &Mutex<Link>,
        wire: &Wire,
        payload: &[u8],
        socket: &Arc<UdpSocket>,
        to: SocketAddr,
    ) {
        let now = self.started.elapsed();
        let fate = link
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(now, payload.len());
        if let Fate::Delivered(at) = fate {
            wire.push(self.started + at, payload.to_vec(), socket.clone(), to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netem::link::{Impairment, Loss};
    use crate::netem::profile::Side;

    fn any() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    /// An upstream that echoes every datagram.
    fn echo() -> (SocketAddr, std::thread::JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let address = socket.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        });
        (address, thread)
    }

    #[test]
    fn datagrams_cross_with_the_profiles_delay_and_loss_both_ways() {
        let (upstream, _echo) = echo();
        let one_way = Impairment {
            delay: Duration::from_millis(20),
            ..Impairment::default()
        };
        let profile = Profile {
            down: Impairment {
                loss: Loss::Random(0.5),
                ..one_way.clone()
            },
            up: one_way,
            side: Side::Viewer,
        };
        let proxy = Proxy::start(any(), upstream, profile, 9, Duration::from_secs(10)).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let (mut answered, mut fastest) = (0, Duration::MAX);
        for n in 0..40u8 {
            let sent = Instant::now();
            client.send_to(&[n; 100], proxy.address).unwrap();
            let mut buf = [0u8; 200];
            if let Ok((len, _)) = client.recv_from(&mut buf) {
                assert_eq!(&buf[..len], &[n; 100]);
                answered += 1;
                fastest = fastest.min(sent.elapsed());
            }
        }
        let report = proxy.finish();
        assert!(
            fastest >= Duration::from_millis(40),
            "round trip {fastest:?}"
        );
        assert_eq!(report.up.sent, 40);
        assert_eq!(report.up.delivered, 40);
        assert_eq!(report.down.sent, 40, "{report}");
        assert_eq!(answered, report.down.delivered);
        assert!(
            (8..=32).contains(&answered),
            "{answered} of 40 answered: {report}"
        );
    }

    #[test]
    fn only_loopback() {
        let remote: SocketAddr = "192.0.2.1:4443".parse().unwrap();
        let profile = super::super::profile::named("lan").unwrap();
        assert!(Proxy::start(any(), remote, profile, 1, Duration::from_secs(1)).is_err());
    }
}
