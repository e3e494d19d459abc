//! Starting the relay, its page server, the certificate's renewal and the token admissions
//! together, and the handle that owns them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use moq_tokio::quic::CongestionControl;
use tokio::task::JoinSet;

use crate::access::{self, Access};
use crate::certificate::{Issued, MAX_LIFETIME, SelfSigned, Served};
use crate::page_server::{self, PageServer};
use crate::site;

/// What to start.
#[derive(Clone, Debug)]
pub struct Options {
    /// Who can reach the relay.
    pub access: Access,
    /// The QUIC (WebTransport) port; the fingerprint is served over TCP on the same number.
    /// Ignored for [`Access::Configured`], whose config says where to listen.
    pub quic_port: u16,
    /// The plain-HTTP page port. 0 picks a free one.
    pub http_port: u16,
    /// The HTTPS page port (0: a free one), or `None` for no HTTPS page.
    pub https_port: Option<u16>,
    /// Where the certificate, the signing key and the publish token are kept. `None`: a fresh
    /// temporary directory, removed when the relay stops.
    pub state_dir: Option<PathBuf>,
    /// How long a self-signed certificate is valid (at most 14 days); it is renewed after
    /// three quarters of that.
    pub cert_lifetime: Duration,
    /// The key whose tokens admit sessions: for public access, defaults to `relay.jwk` in the
    /// state directory; for a configuration without an `[auth]` source, the operator's.
    pub auth_key: Option<PathBuf>,
    /// What a page client may take.
    pub limits: page_server::Limits,
    /// Where the page and the built viewer live.
    pub dirs: site::Dirs,
    /// The QUIC congestion controller, over what the configuration says (moq-relay's default:
    /// delay-based, BBRv3).
    pub congestion_control: Option<CongestionControl>,
}

impl Options {
    /// A loopback-only development relay with QUIC on `quic_port`, its page on free ports.
    pub fn local(quic_port: u16) -> Self {
        Self {
            access: Access::Local,
            quic_port,
            http_port: 0,
            https_port: Some(0),
            state_dir: None,
            cert_lifetime: MAX_LIFETIME,
            auth_key: None,
            limits: page_server::Limits::default(),
            dirs: site::Dirs::from_checkout(),
            congestion_control: None,
        }
    }
}

/// A relay and page server that are serving. Dropping it stops everything.
pub struct Running {
    /// The QUIC (WebTransport) address.
    pub quic: SocketAddr,
    /// The plain-HTTP page server's first address.
    pub http: SocketAddr,
    /// The HTTPS page server's first address.
    pub https: Option<SocketAddr>,
    certificate: Option<Served>,
    /// Where the relay keeps its state.
    pub state_dir: PathBuf,
    /// The signing key whose tokens are accepted, when tokens are required.
    pub auth_key: Option<PathBuf>,
    tasks: JoinSet<anyhow::Result<()>>,
    relay: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    trigger: moq_relay::shutdown::Trigger,
    drain: Duration,
    temporary: Option<PathBuf>,
    /// Held for as long as the relay runs: two relays renewing one certificate would each
    /// serve the other's.
    _lock: std::fs::File,
}

impl Running {
    /// Bind every listener and start serving. Errors (a port in use, say) come back before
    /// anything runs.
    pub async fn start(options: Options) -> anyhow::Result<Self> {
        // moq-relay uses rustls; a process has to choose its crypto provider once.
        let _ = moq_tokio::crypto::install_default();

        let (state_dir, temporary) = match &options.state_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let dir = temporary_dir();
                (dir.clone(), Some(dir))
            }
        };
        let lock = lock(&state_dir)?;
        let tls = Tls::prepare(&options, &state_dir)?;
        let mut config = match &options.access {
            Access::Configured(config) => *config.clone(),
            access => access::config(access, options.quic_port, &tls.cert, &tls.key)?,
        };
        if options.congestion_control.is_some() {
            config.quic.congestion_control = options.congestion_control;
        }
        if let Some(generated) = &tls.generated {
            // A configuration asking moq-relay to generate a certificate gets ours instead,
            // so the page and QUIC serve the same one and it is renewed.
            config.listen.tls.generate.clear();
            config.listen.tls.cert = vec![generated.cert_path()];
            config.listen.tls.key = vec![generated.key_path()];
        }
        let auth_key = match (&options.access, &options.auth_key) {
            (_, Some(key)) => Some(key.clone()),
            (Access::Public { .. }, None) => Some(state_dir.join("relay.jwk")),
            _ => None,
        };
        if let Some(key) = &auth_key {
            crate::tokens::signing_key(key)?;
        }

        let mut relay = moq_relay::Relay::load(config)
            .await
            .context("starting the relay")?
            .with_signals(false);
        let quic = relay.quic_addr()?;
        let mut tasks = JoinSet::new();
        match (relay.admissions(), &auth_key) {
            (Some(admissions), Some(key)) => {
                tasks.spawn(crate::tokens::admit(admissions, key.clone()));
            }
            (Some(_), None) => anyhow::bail!(
                "the configuration names no [auth] source: give the relay a token key with \
                 --auth-key FILE, or configure [auth] (public patterns or an auth server)"
            ),
            (None, Some(_)) => anyhow::bail!(
                "--auth-key is only for a configuration without an [auth] section; this one \
                 has its own"
            ),
            (None, None) => {}
        }

        let page = site::PageConfig {
            relay_host: options.access.relay_host(),
            relay_port: quic.port(),
            relay_path: access::PATH.to_string(),
            pin_certificate: tls.generated.is_some(),
            https_port: None,
        };
        let ips = options.access.page_addresses();
        let http_listeners = page_server::bind(&ips, options.http_port)?;
        let https_listeners = match options.https_port {
            Some(port) => page_server::bind(&ips, port)?,
            None => Vec::new(),
        };
        let http = http_listeners[0].local_addr()?;
        let https = https_listeners
            .first()
            .map(|l| l.local_addr())
            .transpose()?;
        let page = site::PageConfig {
            https_port: https.map(|addr| addr.port()),
            ..page
        };
        let served = tls.issued.clone().map(Served::new);
        let routes = site::router(&options.dirs, &page, served.clone());
        let server = PageServer::new(routes, options.limits);
        for listener in http_listeners {
            let server = server.clone();
            tasks.spawn(async move { Ok(server.http(listener).await?) });
        }
        let https_tls = match https {
            Some(_) => Some(
                RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                    .await
                    .context("loading the certificate for the HTTPS page")?,
            ),
            None => None,
        };
        if let Some(https_tls) = &https_tls {
            for listener in https_listeners {
                let (server, https_tls) = (server.clone(), https_tls.clone());
                tasks.spawn(async move { Ok(server.https(listener, https_tls).await?) });
            }
        }
        match (&tls.generated, &served) {
            (Some(generated), Some(served)) => {
                let (cert, key) = (generated.cert_path(), generated.key_path());
                tasks.spawn(generated.clone().renew(served.clone(), move |issued| {
                    let (https_tls, cert, key) = (https_tls.clone(), cert.clone(), key.clone());
                    async move {
                        // QUIC picks up the rewritten files itself (moq-tokio watches them).
                        if let Some(https_tls) = https_tls {
                            https_tls
                                .reload_from_pem_file(cert, key)
                                .await
                                .context("reloading the HTTPS page certificate")?;
                        }
                        println!(
                            "relay: renewed the self-signed certificate (sha256 {})",
                            issued.fingerprint
                        );
                        Ok(())
                    }
                }));
            }
            _ => {
                if let Some(https_tls) = https_tls {
                    tasks.spawn(follow_files(tls.cert.clone(), tls.key.clone(), https_tls));
                }
            }
        }

        let ready = relay.ready();
        let trigger = relay.shutdown_trigger().clone();
        let drain = relay.config().drain_timeout;
        let relay = tokio::spawn(relay.run());
        ready.wait().await?;
        Ok(Self {
            quic,
            http,
            https,
            certificate: served,
            state_dir,
            auth_key,
            tasks,
            relay: Some(relay),
            trigger,
            drain,
            temporary,
            _lock: lock,
        })
    }

    /// The self-signed certificate served now, when the relay serves its own.
    pub fn certificate(&self) -> Option<Issued> {
        self.certificate.as_ref().map(Served::get)
    }

    /// Serve until the relay, the page server or the certificate renewal fails.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        let relay = self.relay.as_mut().expect("the relay runs until stopped");
        tokio::select! {
            res = relay => res.context("relay task")?.context("relay"),
            Some(res) = self.tasks.join_next() => res.context("relay task")?,
        }
    }

    /// Stop: every session is told to go (and redials elsewhere or later at once), and given
    /// the drain time to leave before the relay closes them.
    pub async fn stop(mut self) {
        self.trigger.start();
        if let Some(relay) = self.relay.take() {
            let deadline = self.drain + Duration::from_secs(1);
            if tokio::time::timeout(deadline, relay).await.is_err() {
                tracing::warn!("the relay did not finish draining in time");
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.trigger.start();
        self.tasks.abort_all();
        if let Some(relay) = &self.relay {
            relay.abort();
        }
        if let Some(dir) = &self.temporary {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The certificate files the relay serves, and whether they are our own self-signed ones.
struct Tls {
    cert: PathBuf,
    key: PathBuf,
    generated: Option<SelfSigned>,
    issued: Option<Issued>,
}

impl Tls {
    fn prepare(options: &Options, state_dir: &Path) -> anyhow::Result<Self> {
        let names = match &options.access {
            Access::Configured(config) => {
                let tls = &config.listen.tls;
                if let (Some(cert), Some(key)) = (tls.cert.first(), tls.key.first()) {
                    return Ok(Self {
                        cert: cert.clone(),
                        key: key.clone(),
                        generated: None,
                        issued: None,
                    });
                }
                tls.generate.clone()
            }
            access => access.certificate_names(),
        };
        let generated = SelfSigned::new(&state_dir.join("tls"), names, options.cert_lifetime);
        let issued = generated.ensure(SystemTime::now())?;
        Ok(Self {
            cert: generated.cert_path(),
            key: generated.key_path(),
            generated: Some(generated),
            issued: Some(issued),
        })
    }
}

/// Reload the HTTPS page's certificate when an operator's certificate files change.
async fn follow_files(cert: PathBuf, key: PathBuf, https: RustlsConfig) -> anyhow::Result<()> {
    let mut files = moq_tokio::watch::Files::new(&[cert.clone(), key.clone()])
        .context("watching the certificate files")?;
    loop {
        files.changed().await;
        if let Err(err) = https.reload_from_pem_file(&cert, &key).await {
            tracing::warn!(%err, "reloading the HTTPS page certificate failed; keeping the old one");
        }
    }
}

/// Take the state directory for this relay alone.
fn lock(state_dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let path = state_dir.join("relay.lock");
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another relay is using {}: give each relay its own --state-dir",
            state_dir.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// A fresh directory for a relay that keeps no state.
fn temporary_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("live-desktop-relay-{}-{nanos}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_directory_serves_one_relay_at_a_time() {
        let dir = temporary_dir();
        let first = lock(&dir).expect("the first relay takes it");
        let second = lock(&dir).expect_err("a second relay is refused");
        assert!(second.to_string().contains("--state-dir"), "{second}");
        drop(first);
        lock(&dir).expect("free again once the first stops");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
