//! The live stack as separate processes — our relay (loopback, `--public` or `--config`, and
//! restarted in place when asked) and publishers — on free ports, for the demo, the browser
//! tests and the benchmark. Each process writes its own log; every one started here is stopped
//! when its handle drops.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// How the relay runs.
#[derive(Clone, Debug)]
pub enum Mode {
    /// No flags: this machine only (loopback), anonymous.
    Local,
    /// `--public --host HOST`: every interface, every session needs a token.
    Public { host: String },
    /// `--config FILE`: a moq-relay configuration, which says where QUIC listens (it must be
    /// the relay's [`Ports::quic`]).
    Config(PathBuf),
}

/// The relay's ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// QUIC (UDP); the relay's own HTTP routes (fingerprint, `/announced`, `/fetch`) on TCP.
    pub quic: u16,
    /// The plain-HTTP page.
    pub http: u16,
    /// The HTTPS page.
    pub https: u16,
}

impl Ports {
    /// The relay's own defaults: the demo's.
    pub const DEFAULT: Self = Self {
        quic: 4443,
        http: 8080,
        https: 8443,
    };

    /// Ports free for both UDP and TCP on every local address right now.
    pub fn free() -> anyhow::Result<Self> {
        let [ports] = Self::free_sets()?;
        Ok(ports)
    }

    /// `N` sets of free ports, no port in two of them (for relays running together).
    pub fn free_sets<const N: usize>() -> anyhow::Result<[Self; N]> {
        // Each pick stays bound until all are picked, so no port is picked twice.
        let held = (0..3 * N)
            .map(|_| free_port())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ports = held
            .iter()
            .map(|socket| Ok(socket.local_addr()?.port()))
            .collect::<anyhow::Result<Vec<u16>>>()?;
        Ok(std::array::from_fn(|i| Self {
            quic: ports[3 * i],
            http: ports[3 * i + 1],
            https: ports[3 * i + 2],
        }))
    }
}

/// A UDP socket on a port that TCP can also listen on, on every local address.
fn free_port() -> anyhow::Result<std::net::UdpSocket> {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("[::]:0")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("::", port)).is_ok() {
            return Ok(udp);
        }
    }
    bail!("no free port found")
}

/// A relay to start: how it runs, where, and the state it keeps.
#[derive(Clone, Debug)]
pub struct Relay {
    mode: Mode,
    ports: Ports,
    /// `--state-dir`: where the relay keeps its signing key, certificate and publish token.
    state_dir: Option<PathBuf>,
    /// `--cert-lifetime-secs`: how long its self-signed certificate is valid.
    cert_lifetime_secs: Option<u64>,
    /// `--congestion-control`: `delay` or `loss`.
    congestion_control: Option<&'static str>,
}

impl Relay {
    pub fn new(mode: Mode, ports: Ports) -> Self {
        Self {
            mode,
            ports,
            state_dir: None,
            cert_lifetime_secs: None,
            congestion_control: None,
        }
    }

    pub fn congestion_control(self, controller: &'static str) -> Self {
        Self {
            congestion_control: Some(controller),
            ..self
        }
    }

    pub fn state_dir(self, dir: &Path) -> Self {
        Self {
            state_dir: Some(dir.to_path_buf()),
            ..self
        }
    }

    pub fn cert_lifetime_secs(self, secs: u64) -> Self {
        Self {
            cert_lifetime_secs: Some(secs),
            ..self
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(binary("relay"));
        match &self.mode {
            Mode::Local => {}
            Mode::Public { host } => {
                command.args(["--public", "--host", host]);
            }
            Mode::Config(file) => {
                command.arg("--config").arg(file);
            }
        }
        let Ports { quic, http, https } = self.ports;
        for (flag, port) in [
            ("--port", quic),
            ("--http-port", http),
            ("--https-port", https),
        ] {
            command.args([flag, &port.to_string()]);
        }
        if let Some(dir) = &self.state_dir {
            command.arg("--state-dir").arg(dir);
        }
        if let Some(secs) = self.cert_lifetime_secs {
            command.args(["--cert-lifetime-secs", &secs.to_string()]);
        }
        if let Some(controller) = self.congestion_control {
            command.args(["--congestion-control", controller]);
        }
        let root = workspace::root();
        command
            .arg("--www")
            .arg(root.join("www"))
            .arg("--pkg")
            .arg(root.join("target").join("web"));
        command
    }

    /// Start it, and wait until its page server answers.
    fn spawn(&self, output: Output) -> anyhow::Result<Process> {
        let process = Process::spawn("relay", self.command(), output)?;
        wait_for_http(self.ports.http, Duration::from_secs(20))
            .context("the relay did not come up")?;
        Ok(process)
    }
}

/// A running relay, and the publishers started against it.
pub struct Stack {
    setup: Relay,
    output: Output,
    relay: Process,
    publishers: Vec<Process>,
}

impl Stack {
    /// Start the relay in development mode (loopback, anonymous) on `ports` (free ones when
    /// `None`).
    pub fn start(ports: Option<Ports>, output: Output) -> anyhow::Result<Self> {
        let ports = match ports {
            Some(ports) => ports,
            None => Ports::free()?,
        };
        Self::with_relay(Relay::new(Mode::Local, ports), output)
    }

    /// Start the relay `setup` says.
    pub fn with_relay(setup: Relay, output: Output) -> anyhow::Result<Self> {
        let relay = setup.spawn(output)?;
        Ok(Self {
            setup,
            output,
            relay,
            publishers: Vec::new(),
        })
    }

    pub fn ports(&self) -> Ports {
        self.setup.ports
    }

    /// Stop the relay (as Ctrl-C does) and start it again with the same arguments: the same
    /// ports and state directory. Publishers keep running.
    pub fn restart_relay(&mut self) -> anyhow::Result<()> {
        self.relay.stop();
        self.relay = self.setup.spawn(self.output)?;
        Ok(())
    }

    /// Kill the relay (SIGKILL: a crash, no goodbye to its sessions) and start it again with
    /// the same arguments. Publishers keep running.
    pub fn crash_and_restart_relay(&mut self) -> anyhow::Result<()> {
        let _ = self.relay.child.kill();
        let _ = self.relay.child.wait();
        self.relay = self.setup.spawn(self.output)?;
        Ok(())
    }

    /// The relay's process id.
    pub fn relay_pid(&self) -> u32 {
        self.relay.child.id()
    }

    /// Where the relay writes its output, when it goes to a file.
    pub fn relay_log(&self) -> Option<&Path> {
        self.relay.log.as_deref()
    }

    /// The relay URL publishers and viewers on this machine use.
    pub fn relay_url(&self) -> String {
        format!("http://localhost:{}/anon", self.setup.ports.quic)
    }

    /// The page that watches broadcast `name` on this relay: the relay's /viewer.json tells
    /// it where to dial and which certificate to pin.
    pub fn page_url(&self, name: &str) -> String {
        format!("http://localhost:{}/?name={name}", self.setup.ports.http)
    }

    /// The page watching `name` through a proxy on `port` in front of the relay's QUIC port
    /// (the page itself and the certificate's fingerprint still come from the relay).
    pub fn page_url_through(&self, name: &str, port: u16) -> String {
        let fingerprint = format!(
            "http://localhost:{}/certificate.sha256",
            self.setup.ports.http
        );
        format!(
            "{}&url=https://127.0.0.1:{port}/anon&fingerprint={fingerprint}",
            self.page_url(name)
        )
    }

    /// Start a publisher of broadcast `name` with `extra` arguments (e.g. `--source test`). It
    /// gets a publish token only from those (`--token-file`), never from this environment.
    pub fn publish(&mut self, name: &str, extra: &[&str]) -> anyhow::Result<u32> {
        let url = self.relay_url();
        self.publish_to(&url, name, extra)
    }

    /// The same, dialling `url` (a proxy in front of the relay) instead of the relay.
    pub fn publish_to(&mut self, url: &str, name: &str, extra: &[&str]) -> anyhow::Result<u32> {
        let mut command = Command::new(binary("publisher"));
        command
            .args(["--name", name, "--url", url])
            .args(extra)
            .env_remove("PUBLISHER_TOKEN");
        let process = Process::spawn("publisher", command, self.output)?;
        let pid = process.child.id();
        self.publishers.push(process);
        Ok(pid)
    }

    /// The process ids of the publishers running, oldest first.
    pub fn publisher_pids(&self) -> Vec<u32> {
        self.publishers.iter().map(|p| p.child.id()).collect()
    }

    /// Where the publisher with process id `pid` writes its output, when it goes to a file.
    pub fn log_of(&self, pid: u32) -> Option<&Path> {
        let process = self.publishers.iter().find(|p| p.child.id() == pid)?;
        process.log.as_deref()
    }

    /// Stop the publisher with process id `pid` (it ends its broadcast cleanly).
    pub fn stop_publisher(&mut self, pid: u32) {
        self.publishers.retain(|p| p.child.id() != pid);
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

/// The `nth` line (1: the first) of the log at `path` containing `needle`, waiting up to
/// `timeout` for it.
pub fn wait_for_log_line(
    path: &Path,
    needle: &str,
    nth: usize,
    timeout: Duration,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let found = text
            .lines()
            .filter(|line| line.contains(needle))
            .nth(nth.saturating_sub(1));
        if let Some(line) = found {
            return Ok(line.to_string());
        }
        if Instant::now() > deadline {
            bail!(
                "no line {nth} with {needle:?} in {} within {timeout:?}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
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
                // One file per process: a test reads what its own relay or publisher said.
                static STARTED: AtomicUsize = AtomicUsize::new(0);
                let n = STARTED.fetch_add(1, Ordering::Relaxed);
                let path = dir.join(format!("{name}-{}-{n}.log", std::process::id()));
                let file = std::fs::File::create(&path)?;
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

    /// Stop it: SIGINT first (the publisher stops its ffmpeg and closes the broadcast cleanly,
    /// the relay closes its sessions), then SIGKILL after 3 s. A process already stopped (and
    /// reaped: its id may be another's by now) is left alone.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        #[cfg(unix)]
        {
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

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

fn binary(name: &str) -> PathBuf {
    let exe = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    workspace::target_dir().join("release").join(exe)
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
