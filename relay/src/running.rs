//! Starting the relay and the page server together, and the handle that owns them.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::site;

/// What to start.
#[derive(Clone, Debug)]
pub struct Options {
    /// The moq-relay configuration (for development: [`crate::dev::config`]).
    pub relay: moq_relay::Config,
    /// Port of the plain-HTTP page server, on every local address. 0 picks a free one.
    pub http_port: u16,
    /// Where the page and the built viewer live.
    pub dirs: site::Dirs,
}

/// A relay and page server that are serving. Dropping it stops both.
pub struct Running {
    /// The QUIC (WebTransport) address.
    pub quic: SocketAddr,
    /// The page server's address.
    pub http: SocketAddr,
    relay: JoinHandle<anyhow::Result<()>>,
    site: JoinHandle<anyhow::Result<()>>,
    trigger: moq_relay::shutdown::Trigger,
}

impl Running {
    /// Bind every listener and start serving. Errors (a port in use, say) come back before
    /// anything runs.
    pub async fn start(options: Options) -> anyhow::Result<Self> {
        // moq-relay uses rustls; a process has to choose its crypto provider once.
        let _ = moq_tokio::crypto::install_default();

        let relay = moq_relay::Relay::load(options.relay)
            .await
            .context("starting the relay")?;
        let quic = relay.quic_addr()?;
        let ready = relay.ready();
        let trigger = relay.shutdown_trigger().clone();
        let routes = site::router(relay.web().routes(), &options.dirs);
        let listeners = bind_dual_stack(options.http_port).await?;
        let http = listeners[0].local_addr()?;

        let relay = tokio::spawn(relay.run());
        let site = tokio::spawn(serve(listeners, routes));
        ready.wait().await?;
        Ok(Self {
            quic,
            http,
            relay,
            site,
            trigger,
        })
    }

    /// Serve until the relay or the page server fails, or Ctrl-C / SIGTERM.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        tokio::select! {
            res = &mut self.relay => res.context("relay task")?.context("relay"),
            res = &mut self.site => res.context("page server task")?.context("page server"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.trigger.start();
        self.relay.abort();
        self.site.abort();
    }
}

/// Listen on `port` of both IPv6 and IPv4. On Linux `[::]` is already dual-stack and the IPv4
/// bind then reports the address in use; on Windows `[::]` is IPv6-only and both are needed.
async fn bind_dual_stack(port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let v6 = TcpListener::bind(("::", port))
        .await
        .with_context(|| format!("listening on [::]:{port}"))?;
    let port = v6.local_addr()?.port();
    let mut listeners = vec![v6];
    match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(v4) => listeners.push(v4),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {}
        Err(err) => return Err(err).with_context(|| format!("listening on 0.0.0.0:{port}")),
    }
    Ok(listeners)
}

async fn serve(listeners: Vec<TcpListener>, routes: axum::Router) -> anyhow::Result<()> {
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        servers.spawn(axum::serve(listener, routes.clone()).into_future());
    }
    match servers.join_next().await {
        Some(res) => Ok(res??),
        None => Ok(()),
    }
}
