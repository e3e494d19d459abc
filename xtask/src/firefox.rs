//! Headless Firefox (Debian's `firefox-esr`) driven over WebDriver BiDi, which Firefox serves
//! itself on `--remote-debugging-port` (no geckodriver): launch it with a fresh profile that
//! lets pages play sound at once, open a page, evaluate JavaScript.
//!
//! One websocket to the BiDi endpoint, synchronous: the tests ask one thing at a time, and no
//! event is subscribed to, so every message is a reply.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::page::{Page, end_group};
use crate::temp_dir::TempDir;

const BINARY: &str = "/usr/bin/firefox-esr";
/// The longest one BiDi command may take (a script awaiting the page included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The profile's preferences: sound without a gesture (as the Chromium tests run), and none of
/// a first run's pages, checks and reports.
const PREFERENCES: &str = r#"
user_pref("media.autoplay.default", 0);
user_pref("media.autoplay.blocking_policy", 0);
user_pref("media.autoplay.block-webaudio", false);
user_pref("media.autoplay.enabled.user-gestures-needed", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.disabledForTesting", true);
"#;

/// A running headless Firefox with one page (browsing context) open.
pub struct Firefox {
    process: Child,
    sound: SoundServer,
    /// Removed after the process is killed (fields drop after `Drop::drop`).
    _profile: TempDir,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    context: String,
    next_id: u64,
    /// The major version, as the browser reports it.
    pub major_version: u32,
}

impl Firefox {
    /// Launch Firefox and start a BiDi session on its first page.
    pub fn launch() -> anyhow::Result<Self> {
        anyhow::ensure!(
            Path::new(BINARY).exists(),
            "Firefox not found: install Debian's `firefox-esr` package (apt-get install firefox-esr)"
        );
        let profile = TempDir::new("xtask-firefox")?;
        std::fs::write(profile.path().join("user.js"), PREFERENCES)?;
        // Without a sound server Firefox has no audio output, and its audio contexts never
        // start (Chromium fakes one when headless): a PulseAudio of its own with a null sink
        // takes what it plays, on the real clock.
        let sound = start_sound_server(profile.path())?;
        let mut command = Command::new(BINARY);
        command
            .args(["--headless", "--no-remote", "--remote-debugging-port", "0"])
            .arg("--profile")
            .arg(profile.path())
            .arg("about:blank")
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .env("PULSE_SERVER", format!("unix:{}", sound.socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut process = command.spawn().context("starting firefox-esr")?;
        let stderr = process.stderr.take().context("Firefox's stderr")?;
        let endpoint = bidi_endpoint(stderr)?;
        let (socket, _) = tungstenite::connect(format!("{endpoint}/session"))
            .context("connecting to Firefox's WebDriver BiDi")?;
        // A command Firefox never answers fails the test instead of hanging the run (a loop
        // of fresh-clone CI runs once waited on one for over ten minutes).
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
        }
        let mut firefox = Self {
            process,
            sound,
            _profile: profile,
            socket,
            context: String::new(),
            next_id: 0,
            major_version: 0,
        };
        let session = firefox.call("session.new", json!({"capabilities": {}}))?;
        firefox.major_version = session["capabilities"]["browserVersion"]
            .as_str()
            .and_then(|version| version.split('.').next()?.parse().ok())
            .context("Firefox says no version")?;
        let tree = firefox.call("browsingContext.getTree", json!({}))?;
        firefox.context = tree["contexts"][0]["context"]
            .as_str()
            .context("Firefox has no page")?
            .to_owned();
        Ok(firefox)
    }

    /// Send one BiDi command and wait for its result.
    fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(Message::Text(request.to_string().into()))?;
        loop {
            let message = self
                .socket
                .read()
                .with_context(|| format!("waiting for {method}"))?;
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text)?;
            if reply["id"].as_u64() != Some(id) {
                continue;
            }
            if reply["type"] == "error" {
                bail!("{method} failed: {} {}", reply["error"], reply["message"]);
            }
            return Ok(reply["result"].clone());
        }
    }
}

impl Page for Firefox {
    fn navigate(&mut self, url: &str) -> anyhow::Result<()> {
        let params = json!({"context": self.context, "url": url, "wait": "none"});
        self.call("browsingContext.navigate", params)?;
        Ok(())
    }

    /// BiDi hands values back in its own serialisation: the page turns the value into JSON
    /// itself, and that string comes back.
    fn evaluate(&mut self, expression: &str) -> anyhow::Result<Value> {
        let wrapped = format!("(async () => JSON.stringify(await ({expression})))()");
        let result = self.call(
            "script.evaluate",
            json!({
                "expression": wrapped,
                "target": {"context": self.context},
                "awaitPromise": true,
                "resultOwnership": "none",
            }),
        )?;
        if result["type"] == "exception" {
            bail!(
                "`{expression}` threw: {}",
                result["exceptionDetails"]["text"]
            );
        }
        match result["result"]["value"].as_str() {
            Some(text) => Ok(serde_json::from_str(text)?),
            // `JSON.stringify(undefined)` is undefined.
            None => Ok(Value::Null),
        }
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        end_group(&mut self.process, "KILL");
        let _ = self.sound.process.kill();
        let _ = self.sound.process.wait();
    }
}

/// A PulseAudio server with one null sink, listening on a socket in `dir`.
struct SoundServer {
    process: Child,
    socket: std::path::PathBuf,
}

fn start_sound_server(dir: &Path) -> anyhow::Result<SoundServer> {
    let socket = dir.join("pulse-native");
    let mut command = Command::new("pulseaudio");
    command
        .args([
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=no",
            "--load=module-null-sink sink_name=null",
        ])
        .arg(format!(
            "--load=module-native-protocol-unix auth-anonymous=1 socket={}",
            socket.display()
        ))
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let process = command
        .spawn()
        .context("starting pulseaudio (Debian's `pulseaudio` package) for Firefox's sound")?;
    let mut server = SoundServer { process, socket };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.socket.exists() {
        if std::time::Instant::now() > deadline || server.process.try_wait()?.is_some() {
            let _ = server.process.kill();
            bail!("pulseaudio did not open its socket within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// The `ws://host:port` Firefox prints on stderr once its BiDi endpoint listens; the rest of
/// its stderr is drained in the background so it never blocks on a full pipe.
fn bidi_endpoint(stderr: impl std::io::Read + Send + 'static) -> anyhow::Result<String> {
    const PREFIX: &str = "WebDriver BiDi listening on ";
    let (found, endpoint) = mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find(PREFIX)
                && let Some(found) = found.take()
            {
                let _ = found.send(line[at + PREFIX.len()..].trim().to_owned());
            }
        }
    });
    endpoint
        .recv_timeout(Duration::from_secs(30))
        .context("Firefox did not open its WebDriver BiDi endpoint within 30 s")
}
