//! Zero-config development mode: the `moq_relay::Config` a fresh checkout runs with.
//!
//! A self-signed ECDSA certificate for `localhost` (moq-relay generates it, valid 14 days, which
//! is what browsers accept for `serverCertificateHashes`), QUIC/WebTransport on `[::]:PORT`
//! (dual-stack, so both 127.0.0.1 and ::1 reach it — Chromium resolves `localhost` to ::1 only),
//! the certificate fingerprint over plain HTTP on the *same* port number (the convention every MoQ
//! client follows for `http://` relay URLs), and anonymous publish/subscribe everywhere.

use anyhow::Context;

/// The development relay's configuration, listening for QUIC (and the fingerprint over TCP) on
/// `quic_port` of every local address.
pub fn config(quic_port: u16) -> anyhow::Result<moq_relay::Config> {
    toml::from_str(&config_toml(quic_port)).context("building the development relay config")
}

fn config_toml(quic_port: u16) -> String {
    format!(
        r#"
[listen]
bind = "[::]:{quic_port}"
tls.generate = ["localhost"]

[web]
# The page server carries our own routes; no WebSocket fallback needed in development.
ws = false

[web.http]
listen = "[::]:{quic_port}"

[auth]
# Anonymous access to every broadcast: development only.
public = "**"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_config_parses_with_the_requested_port() {
        let config = config(4443).expect("dev config must parse");
        let text = format!("{config:?}");
        assert!(text.contains("4443"), "port missing from {text}");
        assert!(
            text.contains("localhost"),
            "certificate host missing from {text}"
        );
        assert!(!config.web.ws);
        assert_eq!(config.web.http.listen.map(|a| a.port()), Some(4443));
    }
}
