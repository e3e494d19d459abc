//! Our MoQ relay: a thin embedding of the `moq-relay` library plus a small web server for the
//! viewer page. It knows nothing about media; everything protocol-related is moq-relay's.
//!
//! - [`dev`] builds the zero-config development setup (self-signed certificate, anonymous
//!   access) as a plain `moq_relay::Config`.
//! - [`site`] serves `www/`, the built viewer and `/certificate.sha256` over plain HTTP.
//! - [`Running`] starts both and hands back the bound addresses, for `main` and for tests.

pub mod dev;
pub mod site;

mod running;

pub use running::{Options, Running};
