//! The page server's listeners: plain HTTP and HTTPS (the relay's own certificate), each
//! closing a connection that has not sent its request headers in time, and all of them
//! together holding at most a fixed number of connections (a connection over the cap is
//! closed at once), so a slow or greedy client cannot take the server's sockets.

use std::convert::Infallible;
use std::future::Ready;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum_server::tls_rustls::RustlsConfig;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

/// How much a client may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a connection may take to send its request headers.
    pub header_timeout: Duration,
    /// The most connections open at once, over every page listener.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// Listen on `port` of every address in `ips` (0: the first free port, then the same one on
/// the rest). An IPv4 wildcard that the IPv6 one already covers (dual-stack) is skipped.
pub fn bind(ips: &[IpAddr], port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners: Vec<TcpListener> = Vec::new();
    let mut port = port;
    for ip in ips {
        let addr = SocketAddr::new(*ip, port);
        match TcpListener::bind(addr) {
            Ok(listener) => {
                port = listener.local_addr()?.port();
                listener.set_nonblocking(true)?;
                listeners.push(listener);
            }
            Err(err)
                if err.kind() == std::io::ErrorKind::AddrInUse
                    && ip.is_unspecified()
                    && !listeners.is_empty() => {}
            Err(err) => return Err(err).with_context(|| format!("listening on {addr}")),
        }
    }
    Ok(listeners)
}

/// Serves `routes` on listeners, sharing one connection cap.
#[derive(Clone)]
pub struct PageServer {
    routes: Router,
    limits: Limits,
    slots: Arc<Semaphore>,
}

impl PageServer {
    pub fn new(routes: Router, limits: Limits) -> Self {
        Self {
            routes,
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
        }
    }

    /// Serve plain HTTP on `listener` until it fails.
    pub async fn http(self, listener: TcpListener) -> std::io::Result<()> {
        let mut server = axum_server::from_tcp(listener)?;
        self.limit_headers(server.http_builder());
        server.serve(self.capped()).await
    }

    /// Serve HTTPS on `listener` until it fails; `tls` may be reloaded meanwhile.
    pub async fn https(self, listener: TcpListener, tls: RustlsConfig) -> std::io::Result<()> {
        let mut server = axum_server::from_tcp_rustls(listener, tls)?;
        self.limit_headers(server.http_builder());
        server.serve(self.capped()).await
    }

    fn limit_headers(
        &self,
        builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    ) {
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
    }

    fn capped(&self) -> Capped {
        Capped {
            routes: self.routes.clone(),
            slots: self.slots.clone(),
        }
    }
}

/// Makes one service per connection, each holding a slot of the cap for as long as the
/// connection lives; with no slot free, making fails and the server drops the connection.
#[derive(Clone)]
struct Capped {
    routes: Router,
    slots: Arc<Semaphore>,
}

impl<T> Service<T> for Capped {
    type Response = Connection;
    type Error = std::io::Error;
    type Future = Ready<Result<Connection, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: T) -> Self::Future {
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            tracing::warn!("page server: connection cap reached, closing a new connection");
            std::io::Error::other("connection cap reached")
        });
        std::future::ready(slot.map(|slot| Connection {
            routes: self.routes.clone(),
            _slot: Arc::new(slot),
        }))
    }
}

/// One connection's router and its slot of the cap.
#[derive(Clone)]
struct Connection {
    routes: Router,
    _slot: Arc<OwnedSemaphorePermit>,
}

impl<B> Service<Request<B>> for Connection
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = <Router as Service<Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request<Body>>::poll_ready(&mut self.routes, cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.routes.call(request.map(Body::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr) -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    }

    async fn start(limits: Limits) -> SocketAddr {
        let routes = Router::new().route("/", axum::routing::get(|| async { "page" }));
        let listener = bind(&[IpAddr::from([127, 0, 0, 1])], 0).unwrap().remove(0);
        let addr = listener.local_addr().unwrap();
        tokio::spawn(PageServer::new(routes, limits).http(listener));
        addr
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let addr = start(Limits {
            header_timeout: Duration::from_millis(300),
            max_connections: 8,
        })
        .await;
        let closed = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut rest = Vec::new();
            // The server closes (possibly after a 408): the read ends instead of timing out.
            stream.read_to_end(&mut rest).is_ok()
        })
        .await
        .unwrap();
        assert!(closed, "the slow client was not disconnected");
        let page = tokio::task::spawn_blocking(move || get(addr))
            .await
            .unwrap();
        assert!(page.unwrap().ends_with("page"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn connections_over_the_cap_are_closed_and_slots_come_back() {
        let addr = start(Limits {
            header_timeout: Duration::from_secs(30),
            max_connections: 2,
        })
        .await;
        let result = tokio::task::spawn_blocking(move || {
            let idle: Vec<_> = (0..2)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            std::thread::sleep(Duration::from_millis(200));
            let over_cap = get(addr).unwrap_or_default();
            drop(idle);
            std::thread::sleep(Duration::from_millis(200));
            (over_cap, get(addr).unwrap_or_default())
        })
        .await
        .unwrap();
        assert_eq!(result.0, "", "a third connection was served");
        assert!(result.1.ends_with("page"), "slots were not given back");
    }
}
