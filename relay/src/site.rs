//! The viewer's web routes: `www/` at `/`, the built viewer (wasm + JS glue) at `/pkg/`,
//! `/viewer.json` (where the page dials and whether it pins the certificate), `/health`, and
//! `/certificate.sha256` of a self-signed certificate, so a page served from here can pin it with
//! a same-origin fetch. The relay's own routes (`/announced`, `/fetch`, which ask for a token
//! where tokens are required) stay on the relay's listener at the QUIC port number. Every
//! response carries the cross-origin isolation headers (COOP/COEP) the viewer's shared-memory
//! audio path needs.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::certificate::Served;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Where the files the site serves live on disk.
#[derive(Clone, Debug)]
pub struct Dirs {
    /// The page (`www/` in the repository).
    pub www: PathBuf,
    /// The built viewer: `cargo xtask build-web` writes it to `target/web/`.
    pub pkg: PathBuf,
}

impl Dirs {
    /// The repository's own `www/` and `target/web/`, found from the current directory or, for a
    /// binary run from elsewhere, from where this crate was built.
    pub fn from_checkout() -> Self {
        let root = [
            PathBuf::from("."),
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        ]
        .into_iter()
        .find(|dir| dir.join("www").is_dir())
        .unwrap_or_else(|| PathBuf::from("."));
        Self {
            www: root.join("www"),
            pkg: root.join("target").join("web"),
        }
    }
}

/// What the page needs to know to dial the relay it was served by (`/viewer.json`). The host
/// is the one the page was opened with, so only ports and the path are here.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    /// The host to dial QUIC at, when not the page's own (a loopback-only relay: 127.0.0.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_host: Option<String>,
    /// The QUIC (WebTransport) port.
    pub relay_port: u16,
    /// The MoQ path to dial.
    pub relay_path: String,
    /// Whether the certificate is self-signed, so the page pins it by the hash at
    /// `/certificate.sha256` (a CA-issued one is checked the normal way).
    pub pin_certificate: bool,
    /// The HTTPS page's port, for a page opened over plain HTTP from another machine.
    pub https_port: Option<u16>,
}

/// The site's router: `/viewer.json`, `/health`, the certificate's fingerprint (when it is our
/// self-signed one) and the static files.
pub fn router(dirs: &Dirs, page: &PageConfig, certificate: Option<Served>) -> Router {
    // The build writes a gzip copy beside each file: browsers that accept it get that (a
    // third of the wasm's size), with the same Last-Modified to revalidate against.
    let pkg = ServeDir::new(&dirs.pkg)
        .precompressed_gzip()
        .not_found_service(axum::routing::get(viewer_not_built));
    let page = serde_json::to_string(page).expect("the page config serialises");
    let routes = match certificate {
        Some(certificate) => Router::new().route(
            "/certificate.sha256",
            axum::routing::get(move || async move { certificate.get().fingerprint }),
        ),
        None => Router::new(),
    };
    routes
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route(
            "/viewer.json",
            axum::routing::get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], page)
            }),
        )
        .nest_service("/pkg", pkg)
        .fallback_service(ServeDir::new(&dirs.www))
        // A rebuilt viewer must reach the next page load: revalidate every time (cheap on a LAN,
        // and the files are small).
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        // Cross-origin isolation, so the viewer's audio ring can be a SharedArrayBuffer (the
        // low-latency path); every resource here is same-origin, and CORP lets isolated pages
        // of other sites embed the viewer too.
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-embedder-policy"),
            HeaderValue::from_static("require-corp"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        ))
}

async fn viewer_not_built() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        "the viewer is not built: run `cargo xtask build-web` in the repository\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// A built viewer of one file and its gzip copy, and the site serving it.
    fn site() -> (Router, PathBuf) {
        let dir = std::env::temp_dir().join(format!("relay-site-{}", std::process::id()));
        let pkg = dir.join("pkg");
        std::fs::create_dir_all(&pkg).expect("pkg dir");
        std::fs::write(pkg.join("viewer.js"), "export {};").expect("js");
        std::fs::write(pkg.join("viewer.js.gz"), b"\x1f\x8bgzip bytes").expect("gz");
        let dirs = Dirs {
            www: dir.join("www"),
            pkg,
        };
        let page = PageConfig {
            relay_host: None,
            relay_port: 4443,
            relay_path: "/anon".into(),
            pin_certificate: true,
            https_port: None,
        };
        (router(&dirs, &page, None), dir)
    }

    #[tokio::test]
    async fn the_viewer_goes_gzipped_to_browsers_that_accept_it() {
        let (site, dir) = site();
        let get = |encoding: Option<&str>| {
            let mut request = Request::get("/pkg/viewer.js");
            if let Some(encoding) = encoding {
                request = request.header(header::ACCEPT_ENCODING, encoding);
            }
            site.clone()
                .oneshot(request.body(Body::empty()).expect("request"))
        };
        let gzipped = get(Some("gzip, deflate, br")).await.expect("response");
        assert_eq!(gzipped.status(), StatusCode::OK);
        assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(gzipped.headers().contains_key(header::LAST_MODIFIED));
        assert_eq!(gzipped.headers()[header::CACHE_CONTROL], "no-cache");
        let plain = get(None).await.expect("response");
        assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
        let _ = std::fs::remove_dir_all(dir);
    }
}
