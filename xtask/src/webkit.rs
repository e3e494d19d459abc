//! WebKit (Debian's WebKitGTK, the engine Safari is built on) driven over classic WebDriver:
//! `WebKitWebDriver` launching its `MiniBrowser` in automation mode on a private Xvfb display,
//! sound allowed without a gesture. Open a page, evaluate JavaScript.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::http;
use crate::page::{Page, end_group};

const DRIVER: &str = "/usr/bin/WebKitWebDriver";
const BROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
/// How long one WebDriver command may take (a script that awaits the page included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A running WebKit with one page.
pub struct WebKit {
    display: Child,
    driver: Child,
    port: u16,
    session: String,
}

impl WebKit {
    /// Start Xvfb, the driver and a browser session.
    pub fn launch() -> anyhow::Result<Self> {
        for (path, package) in [
            (DRIVER, "webkit2gtk-driver"),
            (BROWSER, "libwebkit2gtk-4.1-0"),
        ] {
            anyhow::ensure!(
                Path::new(path).exists(),
                "{path} not found: install Debian's `{package}` package"
            );
        }
        let (display, number) = start_display()?;
        let port = free_port()?;
        let mut driver = Command::new(DRIVER);
        driver
            .arg(format!("--port={port}"))
            .env("DISPLAY", format!(":{number}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut driver, 0);
        let driver = driver.spawn().context("starting WebKitWebDriver")?;
        let mut webkit = Self {
            display,
            driver,
            port,
            session: String::new(),
        };
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "pageLoadStrategy": "none",
            "webkitgtk:browserOptions": {
                "binary": BROWSER,
                "args": ["--automation", "--autoplay-policy=allow", "--enable-webaudio=true"],
            },
        }}});
        let deadline = Instant::now() + Duration::from_secs(20);
        let created = loop {
            match webkit.command("POST", "/session", Some(&capabilities)) {
                Ok(created) => break created,
                Err(err) if Instant::now() > deadline => {
                    return Err(err.context("WebKitWebDriver gave no session within 20 s"));
                }
                // The driver may not be listening yet.
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        webkit.session = created["sessionId"]
            .as_str()
            .context("a session without an id")?
            .to_owned();
        Ok(webkit)
    }

    /// One WebDriver command; its `value`.
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let body = body.map(Value::to_string);
        let response = http::request(
            method,
            "127.0.0.1",
            self.port,
            path,
            body.as_deref(),
            COMMAND_TIMEOUT,
        )?;
        let reply: Value = serde_json::from_str(&response.body)
            .with_context(|| format!("WebDriver answered {method} {path}: {}", response.body))?;
        if response.status != 200 {
            bail!(
                "{method} {path} failed ({}): {}",
                response.status,
                reply["value"]
            );
        }
        Ok(reply["value"].clone())
    }

    fn session_path(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }
}

impl Page for WebKit {
    fn navigate(&mut self, url: &str) -> anyhow::Result<()> {
        self.command(
            "POST",
            &self.session_path("/url"),
            Some(&json!({"url": url})),
        )?;
        Ok(())
    }

    /// The page turns the value into JSON itself (WebDriver's own serialisation is its
    /// business), and that string comes back.
    fn evaluate(&mut self, expression: &str) -> anyhow::Result<Value> {
        let script = format!(
            "const done = arguments[arguments.length - 1]; \
             Promise.resolve().then(() => ({expression})).then( \
               (value) => done({{ ok: JSON.stringify(value) ?? null }}), \
               (error) => done({{ error: String(error) }}));"
        );
        let result = self.command(
            "POST",
            &self.session_path("/execute/async"),
            Some(&json!({"script": script, "args": []})),
        )?;
        if let Some(error) = result["error"].as_str() {
            bail!("`{expression}` threw: {error}");
        }
        match result["ok"].as_str() {
            Some(text) => Ok(serde_json::from_str(text)?),
            None => Ok(Value::Null),
        }
    }
}

impl Drop for WebKit {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.command("DELETE", &self.session_path(""), None);
        }
        // The whole group: the browser and WebKit's processes too; Xvfb told to end, so that
        // it removes its lock file.
        end_group(&mut self.driver, "KILL");
        end_group(&mut self.display, "TERM");
    }
}

/// An Xvfb on a display it picks itself (`-displayfd`: stale lock files of killed servers
/// are skipped), and its number.
fn start_display() -> anyhow::Result<(Child, u32)> {
    let mut command = Command::new("Xvfb");
    command
        .args(["-displayfd", "1", "-screen", "0", "1280x900x24"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut display = command
        .spawn()
        .context("starting Xvfb (Debian's `xvfb` package)")?;
    let stdout = display.stdout.take().context("Xvfb's stdout")?;
    let (said, number) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = said.send(line.trim().parse::<u32>());
    });
    match number.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(number)) => Ok((display, number)),
        _ => {
            let _ = display.kill();
            let _ = display.wait();
            bail!("Xvfb did not say which display it took within 10 s")
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
