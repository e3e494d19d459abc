//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: launch it with a
//! fresh profile, open a page, evaluate JavaScript, take screenshots, throttle the CPU.
//!
//! Raw CDP over one websocket to the page target, synchronous: the tests ask one thing at a time.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use serde::Serialize;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::page::{Page, end_group};
use crate::temp_dir::TempDir;

/// Where Debian puts the real binary (the /usr/bin wrapper adds flags and noise).
const BINARIES: [&str; 3] = [
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
];

/// One frame of a screencast.
pub struct ScreencastFrame {
    pub png: Vec<u8>,
    /// When the compositor drew it (Unix ms).
    pub drawn_unix_ms: f64,
    /// The page's width in CSS pixels (the PNG may be scaled from it).
    pub device_width: f64,
}

/// How large a screencast's frames are. The PNG encoding runs on the machine being measured,
/// so the recorder is itself a load: half size is the light recorder, full size a heavy client
/// load (the busy viewer of the bench's load row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorder {
    /// 640 × 450 at most: a quarter of the encoding; the pixel clock's 16 px blocks read at 8.
    Light,
    /// The page's own size.
    Heavy,
}

impl Recorder {
    pub fn as_str(self) -> &'static str {
        match self {
            Recorder::Light => "light (half size)",
            Recorder::Heavy => "heavy (full size)",
        }
    }
}

/// Whether pages may make sound before the user interacts with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autoplay {
    /// `--autoplay-policy=no-user-gesture-required`: tests that need sound at once.
    Allowed,
    /// The default policy, as users have it.
    NeedsGesture,
}

/// A running headless Chromium with one page open.
pub struct Chromium {
    process: Child,
    /// Removed after the process is killed (fields drop after `Drop::drop`).
    _profile: TempDir,
    page: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Chromium {
    /// Launch Chromium and attach to its first page; sound may start without a user gesture.
    pub fn launch() -> anyhow::Result<Self> {
        Self::launch_with(Autoplay::Allowed, &[])
    }

    /// Launch Chromium with the given autoplay policy and extra command-line `args` (e.g.
    /// `--host-resolver-rules=…`).
    pub fn launch_with(autoplay: Autoplay, args: &[String]) -> anyhow::Result<Self> {
        let binary = BINARIES
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .context("Chromium not found: install Debian's `chromium` package (apt-get install chromium)")?;
        let profile = TempDir::new("xtask-chromium")?;
        let mut command = Command::new(binary);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--mute-audio",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .args(match autoplay {
                Autoplay::Allowed => Some("--autoplay-policy=no-user-gesture-required"),
                // The browser default: sound waits for a user gesture.
                Autoplay::NeedsGesture => None,
            })
            .args(args)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let process = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;

        let port = wait_for_port(&profile.path().join("DevToolsActivePort"))?;
        let page_url = page_websocket(port)?;
        let (page, _) =
            tungstenite::connect(page_url.as_str()).context("connecting to the page's DevTools")?;
        let mut chromium = Self {
            process,
            _profile: profile,
            page,
            next_id: 0,
        };
        chromium.call("Page.enable", json!({}))?;
        chromium.call("Runtime.enable", json!({}))?;
        Ok(chromium)
    }

    /// Send one CDP command and wait for its result (events in between are ignored).
    pub fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params});
        self.page.send(Message::Text(request.to_string().into()))?;
        loop {
            let message = self
                .page
                .read()
                .with_context(|| format!("waiting for {method}"))?;
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text)?;
            if reply["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                bail!("{method} failed: {error}");
            }
            return Ok(reply["result"].clone());
        }
    }

    /// Record composited frames with `Page.startScreencast` (PNG) for `duration`, acknowledging
    /// each, and hand every frame to `on_frame` as it arrives.
    pub fn screencast(
        &mut self,
        recorder: Recorder,
        duration: Duration,
        mut on_frame: impl FnMut(ScreencastFrame) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let params = match recorder {
            Recorder::Light => {
                json!({"format": "png", "maxWidth": 640, "maxHeight": 450, "everyNthFrame": 1})
            }
            Recorder::Heavy => json!({"format": "png", "everyNthFrame": 1}),
        };
        self.call("Page.startScreencast", params)?;
        let deadline = Instant::now() + duration;
        self.set_read_timeout(Some(Duration::from_millis(50)))?;
        let result = (|| {
            while Instant::now() < deadline {
                let text = match self.page.read() {
                    Ok(Message::Text(text)) => text,
                    Ok(_) => continue,
                    Err(tungstenite::Error::Io(err))
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue;
                    }
                    Err(err) => {
                        return Err(anyhow::Error::new(err).context("reading the screencast"));
                    }
                };
                let event: Value = serde_json::from_str(&text)?;
                if event["method"] != "Page.screencastFrame" {
                    continue;
                }
                let params = &event["params"];
                self.next_id += 1;
                let ack = json!({"id": self.next_id, "method": "Page.screencastFrameAck",
                    "params": {"sessionId": params["sessionId"]}});
                self.page.send(Message::Text(ack.to_string().into()))?;
                let data = params["data"]
                    .as_str()
                    .context("screencast frame without data")?;
                on_frame(ScreencastFrame {
                    png: base64::engine::general_purpose::STANDARD.decode(data)?,
                    drawn_unix_ms: params["metadata"]["timestamp"].as_f64().unwrap_or(0.0) * 1000.0,
                    device_width: params["metadata"]["deviceWidth"].as_f64().unwrap_or(0.0),
                })?;
            }
            Ok(())
        })();
        self.set_read_timeout(None)?;
        self.call("Page.stopScreencast", json!({}))?;
        result
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> anyhow::Result<()> {
        if let MaybeTlsStream::Plain(stream) = self.page.get_mut() {
            stream.set_read_timeout(timeout)?;
        }
        Ok(())
    }

    /// A real (trusted) left click at the centre of the element matched by `selector`, as a
    /// user's click: it counts as the gesture browsers require before sound.
    pub fn click(&mut self, selector: &str) -> anyhow::Result<()> {
        let centre = self.evaluate(&format!(
            "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
             return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()"
        ))?;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": centre["x"], "y": centre["y"], "button": "left", "clickCount": 1}),
            )?;
        }
        Ok(())
    }

    /// Run `script` in every document before its own scripts (e.g. to take an API away).
    pub fn before_each_document(&mut self, script: &str) -> anyhow::Result<()> {
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": script}),
        )?;
        Ok(())
    }

    /// Slow the page's CPU down by `rate` (1 = no throttling).
    pub fn throttle_cpu(&mut self, rate: f64) -> anyhow::Result<()> {
        self.call("Emulation.setCPUThrottlingRate", json!({"rate": rate}))?;
        Ok(())
    }

    /// A PNG screenshot of the element matched by `selector`.
    pub fn screenshot(&mut self, selector: &str) -> anyhow::Result<Vec<u8>> {
        let rect = self.evaluate(&format!(
            "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
             return {{x: r.x, y: r.y, width: r.width, height: r.height}}; }})()"
        ))?;
        let result = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "clip": {
                "x": rect["x"], "y": rect["y"], "width": rect["width"], "height": rect["height"], "scale": 1
            }}),
        )?;
        let data = result["data"].as_str().context("screenshot without data")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(data)?)
    }
}

impl Page for Chromium {
    fn navigate(&mut self, url: &str) -> anyhow::Result<()> {
        self.call("Page.navigate", json!({"url": url}))?;
        Ok(())
    }

    fn evaluate(&mut self, expression: &str) -> anyhow::Result<Value> {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("`{expression}` threw: {exception}");
        }
        Ok(result["result"]["value"].clone())
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        end_group(&mut self.process, "KILL");
    }
}

/// A stats report (or part of one) as the JSON the page's `stats()` returns, for messages.
pub fn json(stats: &impl Serialize) -> String {
    serde_json::to_string(stats).unwrap_or_else(|err| format!("<unserialisable: {err}>"))
}

/// A figure the viewer may not know yet, printed as its JSON would be: `null` when unknown.
pub fn or_null<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "null".into(), |value| value.to_string())
}

fn wait_for_port(file: &Path) -> anyhow::Result<u16> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok())
        {
            return Ok(port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("Chromium did not open its DevTools port within 20 s")
}

/// The DevTools websocket URL of the first page target.
fn page_websocket(port: u16) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The port file can appear a moment before the endpoint answers: retry until then.
        let listing = crate::http::get("127.0.0.1", port, "/json/list")
            .and_then(|response| Ok(serde_json::from_str::<Value>(&response.body)?));
        let page = listing.as_ref().ok().and_then(|targets| {
            let page = targets.as_array()?.iter().find(|t| t["type"] == "page")?;
            Some(page["webSocketDebuggerUrl"].as_str()?.to_string())
        });
        if let Some(url) = page {
            return Ok(url);
        }
        if Instant::now() > deadline {
            bail!("Chromium has no page target: {listing:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_figures_print_as_null() {
        assert_eq!(or_null(Some(12.5)), "12.5");
        assert_eq!(or_null(Some(1280)), "1280");
        assert_eq!(or_null(None::<f64>), "null");
    }
}
