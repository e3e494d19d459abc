//! Who can reach the relay, as a `moq_relay::Config`: on this machine only (the default), or
//! from the network with tokens, or exactly as an operator's TOML says.
//!
//! The first two serve our own self-signed certificate files (see [`crate::certificate`]) on
//! QUIC, and serve the certificate fingerprint over plain HTTP on the QUIC port number, the
//! convention every MoQ client follows for `http://` relay URLs.
//!
//! Loopback means 127.0.0.1 for QUIC: moq-relay binds one UDP socket, system resolvers give
//! `localhost` as 127.0.0.1 (some as nothing else), and the page tells Chromium — which dials
//! `localhost` as ::1 only — to dial 127.0.0.1 ([`Access::relay_host`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use anyhow::Context;

/// The MoQ path (auth scope) publishers and viewers dial, in every mode: `http://host:4443/anon`.
pub const PATH: &str = "anon";

/// How long a stopping relay waits for its sessions to leave.
pub const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);
/// A session with nothing heard from its peer for this long is dead (see [`config`]).
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// How often a quiet session pings its peer: four chances inside [`IDLE_TIMEOUT`].
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// How the relay is reached.
#[derive(Clone, Debug)]
pub enum Access {
    /// Loopback only, anonymous publish and watch: the demo and development.
    Local,
    /// Every interface; each session needs a token signed with the relay's key.
    Public {
        /// The names (or addresses) other machines use for this one.
        hosts: Vec<String>,
    },
    /// An operator's moq-relay configuration (certificates, auth, cluster), used as is.
    Configured(Box<moq_relay::Config>),
}

impl Access {
    /// The addresses the page server listens on.
    pub fn page_addresses(&self) -> Vec<IpAddr> {
        match self {
            // Chromium resolves `localhost` to ::1 only; other clients may pick 127.0.0.1.
            Access::Local => vec![Ipv6Addr::LOCALHOST.into(), Ipv4Addr::LOCALHOST.into()],
            // `[::]` is dual-stack on Linux and macOS; on Windows it is IPv6 only, and the
            // page server then adds 0.0.0.0 (see `page_server::bind`).
            Access::Public { .. } | Access::Configured(_) => {
                vec![Ipv6Addr::UNSPECIFIED.into(), Ipv4Addr::UNSPECIFIED.into()]
            }
        }
    }

    /// The host the page dials QUIC at, when it is not the one the page was opened with.
    pub fn relay_host(&self) -> Option<String> {
        matches!(self, Access::Local).then(|| Ipv4Addr::LOCALHOST.to_string())
    }

    /// The names in a self-signed certificate for this access.
    pub fn certificate_names(&self) -> Vec<String> {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        if let Access::Public { hosts } = self {
            names.extend(hosts.iter().filter(|host| *host != "localhost").cloned());
        }
        names
    }
}

/// The moq-relay configuration for `Local` or `Public` access: QUIC on `quic_port`, the
/// certificate fingerprint over TCP on the same port, the given certificate files. Local
/// access admits everyone anonymously; public access names no auth source, so the embedding
/// relay answers every admission itself (see [`crate::tokens::admit`]).
pub fn config(
    access: &Access,
    quic_port: u16,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<moq_relay::Config> {
    let (bind, auth) = match access {
        Access::Local => (
            SocketAddr::from((Ipv4Addr::LOCALHOST, quic_port)),
            "[auth]\n# Anonymous access to every broadcast: loopback only.\npublic = \"**\"\n",
        ),
        Access::Public { .. } => (SocketAddr::from((Ipv6Addr::UNSPECIFIED, quic_port)), ""),
        Access::Configured(config) => return Ok(*config.clone()),
    };
    let text = format!(
        r#"
[listen]
bind = "{bind}"

[web]
# MoQ over WebSocket (QMux) on the same TCP listener, for browsers without WebTransport.
ws = true

[web.http]
listen = "{bind}"

{auth}
"#
    );
    let mut config: moq_relay::Config =
        toml::from_str(&text).context("building the relay config")?;
    config.listen.tls.cert = vec![cert.to_owned()];
    config.listen.tls.key = vec![key.to_owned()];
    // moq-relay's client socket (for dialling cluster peers) binds every interface unless told.
    if let Access::Local = access {
        config.connect.bind = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    }
    // Stopping tells every session (GOAWAY) and gives them this long to leave before closing
    // them, so publishers and viewers redial at once instead of waiting out an idle timeout.
    config.drain_timeout = DRAIN;
    // A relay that dies without a goodbye (a crash, a power cut) is noticed by its peers only
    // when the session falls idle; QUIC takes the smaller of both ends' timeouts, so this one
    // sets it for publishers and browsers alike: they redial a restarted relay within seconds
    // instead of moq's default 10 s. Pings keep a quiet but live session well inside it.
    config.quic.idle_timeout = IDLE_TIMEOUT;
    config.quic.keep_alive = KEEP_ALIVE;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_access_is_loopback_only_and_anonymous() {
        let config = config(&Access::Local, 4443, Path::new("c.pem"), Path::new("k.pem"))
            .expect("local config");
        let text = format!("{config:?}");
        assert!(
            text.contains("127.0.0.1:4443"),
            "QUIC not on loopback: {text}"
        );
        let quic = config.quic.resolve();
        assert_eq!(
            (quic.idle_timeout, quic.keep_alive),
            (IDLE_TIMEOUT, Some(KEEP_ALIVE)),
            "a crashed relay must be noticed within seconds"
        );
        assert!(text.contains("c.pem") && text.contains("k.pem"));
        assert!(
            config.web.ws,
            "browsers without WebTransport watch over a WebSocket"
        );
        let http = config.web.http.listen.expect("fingerprint listener");
        assert!(http.ip().is_loopback() && http.port() == 4443);
        assert!(!config.auth.is_empty(), "anonymous access is granted");
        assert!(
            config
                .connect
                .bind
                .is_some_and(|bind| bind.ip().is_loopback())
        );
        assert!(
            Access::Local
                .page_addresses()
                .iter()
                .all(IpAddr::is_loopback)
        );
    }

    #[test]
    fn public_access_listens_everywhere_and_leaves_admission_to_us() {
        let access = Access::Public {
            hosts: vec!["desk.lan".into(), "localhost".into()],
        };
        let config = config(&access, 4443, Path::new("c.pem"), Path::new("k.pem")).unwrap();
        let http = config.web.http.listen.expect("fingerprint listener");
        assert!(http.ip().is_unspecified());
        assert!(config.auth.is_empty(), "no anonymous grant, no auth server");
        assert_eq!(
            access.certificate_names(),
            ["localhost", "127.0.0.1", "desk.lan"]
        );
    }
}
