//! A virtual X display (Debian's `xvfb`) for screen-capture tests.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

pub struct Xvfb {
    child: Child,
    name: String,
}

impl Xvfb {
    /// Start `Xvfb` on the first free display number from :90, `width`x`height`, 24-bit.
    pub fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        let number = (90..200)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .context("no free X display number")?;
        let name = format!(":{number}");
        let child = Command::new("Xvfb")
            .args([
                &name,
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (Debian package `xvfb`)")?;
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&socket).exists() {
            anyhow::ensure!(Instant::now() < deadline, "Xvfb did not start within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child, name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
