//! The live stack as separate processes — our relay and a publisher — on free ports, for the
//! demo, the browser tests and the benchmark. Every process started here is killed when its
//! handle drops.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::workspace;

/// Build the relay and publisher binaries (release: the figures must be the real ones).
pub fn build_binaries() -> anyhow::Result<()> {
    workspace::cargo(&["build", "--release", "-p", "relay", "-p", "publisher"])
}

/// How the processes' output is handled.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Straight to this terminal (the demo).
    Inherit,
    /// Into files under target/xtask-logs/ (tests and benchmark).
    Logs,
}

/// A running relay, and the publishers started against it.
pub struct Stack {
    pub quic_port: u16,
    pub http_port: u16,
    output: Output,
    relay: Process,
    publishers: Vec<Process>,
}

impl Stack {
    /// Start the relay in development mode on `ports` (free ones when `None`).
    pub fn start(ports: Option<(u16, u16)>, output: Output) -> anyhow::Result<Self> {
        let (quic_port, http_port) = match ports {
            Some(ports) => ports,
            None => (free_port()?, free_port()?),
        };
        let root = workspace::root();
        let mut command = Command::new(binary("relay"));
        command.args([
            "--port",
            &quic_port.to_string(),
            "--http-port",
            &http_port.to_string(),
        ]);
        command
            .arg("--www")
            .arg(root.join("www"))
            .arg("--pkg")
            .arg(root.join("target").join("web"));
        let relay = Process::spawn("relay", command, output)?;
        wait_for_http(http_port, Duration::from_secs(20)).context("the relay did not come up")?;
        Ok(Self {
            quic_port,
            http_port,
            output,
            relay,
            publishers: Vec::new(),
        })
    }

    /// The relay URL publishers and viewers use.
    pub fn relay_url(&self) -> String {
        format!("http://localhost:{}/anon", self.quic_port)
    }

    /// The page that watches broadcast `name` on this relay.
    pub fn page_url(&self, name: &str) -> String {
        format!(
            "http://localhost:{}/?name={name}&url={}",
            self.http_port,
            self.relay_url()
        )
    }

    /// Start a publisher of broadcast `name` with `extra` arguments (e.g. `--source test`).
    pub fn publish(&mut self, name: &str, extra: &[&str]) -> anyhow::Result<u32> {
        let mut command = Command::new(binary("publisher"));
        command
            .args(["--name", name, "--url", &self.relay_url()])
            .args(extra);
        let process = Process::spawn("publisher", command, self.output)?;
        let pid = process.child.id();
        self.publishers.push(process);
        Ok(pid)
    }

    /// Where the publisher with process id `pid` writes its output, when it goes to a file.
    pub fn log_of(&self, pid: u32) -> Option<&std::path::Path> {
        let process = self.publishers.iter().find(|p| p.child.id() == pid)?;
        process.log.as_deref()
    }

    /// Stop every publisher (each ends its broadcast cleanly), so the next measurement has the
    /// machine to itself.
    pub fn stop_publishers(&mut self) {
        self.publishers.clear();
    }

    /// Whether the relay and every publisher are still running.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.relay.check_alive()?;
        self.publishers
            .iter_mut()
            .try_for_each(Process::check_alive)
    }
}

/// A child process that is killed when dropped.
struct Process {
    name: &'static str,
    child: Child,
    log: Option<PathBuf>,
}

impl Process {
    fn spawn(name: &'static str, mut command: Command, output: Output) -> anyhow::Result<Self> {
        command.stdin(Stdio::null());
        let log = match output {
            Output::Inherit => None,
            Output::Logs => {
                let dir = workspace::root().join("target").join("xtask-logs");
                std::fs::create_dir_all(&dir)?;
                let path = dir.join(format!("{name}-{}.log", std::process::id()));
                let file = std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                command.stdout(file.try_clone()?).stderr(file);
                Some(path)
            }
        };
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Self { name, child, log })
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = self
                .log
                .as_ref()
                .map(|p| format!("; log: {}", p.display()))
                .unwrap_or_default();
            bail!("{} exited ({status}){log}", self.name);
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // SIGINT first: the publisher stops its ffmpeg and closes the broadcast cleanly.
            let _ = Command::new("kill")
                .args(["-s", "INT", "--", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary(name: &str) -> PathBuf {
    let exe = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    workspace::target_dir().join("release").join(exe)
}

/// A port free for both UDP and TCP on every local address, right now.
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("[::]:0")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("::", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port found")
}

fn wait_for_http(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nothing listening on port {port} after {timeout:?}")
}
