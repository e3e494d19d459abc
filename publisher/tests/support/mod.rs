//! Shared by the publisher's integration tests: an in-process development relay on free ports,
//! the publisher binary and an X server as child processes (killed when dropped), and a native
//! subscriber.

mod subscriber;
mod xvfb;

use std::process::{Child, Command, Stdio};

pub use subscriber::{
    catalog_where, connect, first_catalog, first_catalog_group, open, receive, receive_audio,
    receive_av, receive_renditions, unix_micros,
};
pub use xvfb::Xvfb;

pub async fn start_relay() -> anyhow::Result<relay::Running> {
    start_relay_with(relay::Access::Local).await
}

/// A relay with this `access` (`Public`: every session needs a token signed with its key,
/// `Running::auth_key`).
pub async fn start_relay_with(access: relay::Access) -> anyhow::Result<relay::Running> {
    // The dev relay serves the fingerprint over TCP on the QUIC port number, so pick a port free
    // for both; retry if another process holds or grabs it (CI saw "Address already in use"
    // from the TCP bind once in a loop of fresh-clone runs).
    let mut last = None;
    for _ in 0..5 {
        // A free UDP port whose TCP twin another process holds is no use: take another.
        let port = match free_port() {
            Ok(port) => port,
            Err(err) => {
                last = Some(err);
                continue;
            }
        };
        let options = relay::Options {
            access: access.clone(),
            ..relay::Options::local(port)
        };
        match relay::Running::start(options).await {
            Ok(running) => return Ok(running),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no free port")))
}

fn free_port() -> anyhow::Result<u16> {
    let udp = std::net::UdpSocket::bind("[::]:0")?;
    let port = udp.local_addr()?.port();
    std::net::TcpListener::bind(("::", port))?;
    Ok(port)
}

/// The publisher binary, running.
pub struct Publisher(Child);

impl Publisher {
    pub fn start(args: &[&str]) -> anyhow::Result<Self> {
        Ok(Self(
            Command::new(env!("CARGO_BIN_EXE_publisher"))
                .args(args)
                .stdin(Stdio::null())
                .spawn()?,
        ))
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
