//! Our MoQ relay: a thin embedding of the `moq-relay` library plus a small web server for the
//! viewer page. It knows nothing about media; everything protocol-related is moq-relay's.
//!
//! - [`access`] says who can reach the relay (loopback, the network with tokens, or an
//!   operator's configuration) as a plain `moq_relay::Config`.
//! - [`certificate`] keeps and renews the self-signed certificate QUIC and the HTTPS page share.
//! - [`tokens`] mints moq-auth tokens and admits sessions by them.
//! - [`site`] and [`page_server`] serve `www/`, the built viewer, `/viewer.json` and the relay's
//!   public routes over HTTP and HTTPS.
//! - [`Running`] starts them all and hands back the bound addresses, for `main` and for tests.

pub mod access;
pub mod certificate;
pub mod page_server;
pub mod site;
pub mod tokens;

mod running;

pub use access::Access;
pub use running::{Options, Running};
