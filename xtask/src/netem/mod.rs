//! Network conditions on loopback, in user space (this kernel has no `netem`): a UDP proxy
//! between a client (a browser, a publisher) and the relay's QUIC port, impairing each direction
//! as a named profile says — delay, jitter, random or bursty loss, a rate-limited bottleneck
//! with a drop-tail queue, rate steps and outages. `cargo xtask netem --profile wifi` runs one.
//!
//! [`link`] decides each packet's fate (pure, time passed in); [`proxy`] carries datagrams
//! through it; [`tcp`] forwards what a client fetches over TCP from the same port number;
//! [`profile`] names the conditions tests and benches share.

pub mod link;
pub mod profile;
pub mod proxy;
pub mod tcp;
