//! MoQ over a WebSocket, for browsers without WebTransport (Safari, WebKit): QMux draft-00
//! (QUIC's streams and flow control over an ordered message transport), the framing moq-relay's
//! WebSocket listener speaks under the `qmux-00.moq-lite-06` subprotocol. Host-independent:
//! [`frame`] is the wire format, [`session`] the client session's state and rules, [`handles`]
//! what moq-net drives through `web_transport_trait::poll`.

pub mod frame;
pub mod handles;
pub mod session;
#[cfg(test)]
mod tests;

/// The WebSocket subprotocols offered, most preferred first: QMux draft-00 carrying each
/// moq-lite version the viewer speaks (moq-relay pairs `qmux-00.` with its ALPNs).
pub const SUBPROTOCOLS: [&str; 3] = [
    "qmux-00.moq-lite-06",
    "qmux-00.moq-lite-05",
    "qmux-00.moq-lite-04",
];

/// The moq-lite version a subprotocol the relay chose carries.
pub fn application_protocol(subprotocol: &str) -> Option<&str> {
    subprotocol
        .strip_prefix("qmux-00.")
        .filter(|alpn| alpn.starts_with("moq-lite-"))
}

#[cfg(test)]
mod subprotocol_tests {
    use super::*;

    #[test]
    fn the_chosen_subprotocol_names_the_moq_version() {
        assert_eq!(application_protocol(SUBPROTOCOLS[0]), Some("moq-lite-06"));
        assert_eq!(application_protocol("qmux-01.moq-lite-06"), None);
        assert_eq!(application_protocol("webtransport"), None);
    }
}
