//! Where to dial, and how to trust the relay's certificate. The page gives a relay URL and, for
//! a relay with a self-signed certificate, where the certificate's hex SHA-256 is published:
//!
//! - an explicit fingerprint URL pins the certificate with that hash, whatever the relay's
//!   scheme (the page's own origin serves it, so an https page fetches it without mixed content);
//! - `https://host:port/path` without one is dialled as is, trusting the system roots;
//! - `http://host:port/path` without one is the development convention MoQ clients share: the
//!   hash comes from `http://host:port/certificate.sha256` and WebTransport dials
//!   `https://host:port/path`.
//!
//! A relay URL may carry a subscribe token (`?jwt=…`): `token_redact::redact` keeps it out of
//! what the viewer shows.

use url::Url;

/// The URLs one connection attempt needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// The WebTransport session URL.
    pub session: Url,
    /// Where the certificate's hex SHA-256 is served, for a relay whose certificate is pinned.
    pub fingerprint: Option<Url>,
}

/// Work out what to dial for the relay URL the page was given and the fingerprint URL, if any.
pub fn dial(relay: &str, fingerprint: Option<&str>) -> Result<Dial, String> {
    let url = Url::parse(relay).map_err(|err| format!("bad relay URL {relay:?}: {err}"))?;
    let explicit = fingerprint.map(parse_fingerprint).transpose()?;
    match url.scheme() {
        "https" => Ok(Dial {
            session: url,
            fingerprint: explicit,
        }),
        "http" => {
            let fingerprint = explicit.unwrap_or_else(|| {
                let mut conventional = url.clone();
                conventional.set_path("/certificate.sha256");
                conventional.set_query(None);
                conventional.set_fragment(None);
                conventional
            });
            let mut session = url;
            session
                .set_scheme("https")
                .map_err(|()| format!("cannot dial {relay:?} over https"))?;
            Ok(Dial {
                session,
                fingerprint: Some(fingerprint),
            })
        }
        other => Err(format!(
            "relay URL must be http:// or https://, not {other}://"
        )),
    }
}

/// The WebSocket URL of the relay `dial` reaches: the same host, port, path and query, over
/// `ws://` where the certificate is pinned (a development relay serves its WebSocket over
/// plain HTTP on the QUIC port number; a browser cannot pin a certificate for `wss://`) and
/// `wss://` where it is trusted.
pub fn websocket(dial: &Dial) -> Url {
    let mut url = dial.session.clone();
    let scheme = match dial.fingerprint {
        Some(_) => "ws",
        None => "wss",
    };
    // Both are special schemes like https: the change cannot fail.
    let _ = url.set_scheme(scheme);
    url
}

/// An explicit fingerprint URL: absolute, over http or https.
fn parse_fingerprint(fingerprint: &str) -> Result<Url, String> {
    let url = Url::parse(fingerprint)
        .map_err(|err| format!("bad certificate fingerprint URL {fingerprint:?}: {err}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "certificate fingerprint URL must be http:// or https://, not {other}://"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_is_plain_where_the_certificate_is_pinned() {
        let development = dial("http://localhost:4443/anon?jwt=abc", None).expect("valid");
        assert_eq!(
            websocket(&development).as_str(),
            "ws://localhost:4443/anon?jwt=abc"
        );
        let trusted = dial("https://relay.example:443/live", None).expect("valid");
        assert_eq!(websocket(&trusted).as_str(), "wss://relay.example/live");
    }

    #[test]
    fn http_means_a_development_relay_with_a_fingerprint() {
        let dial = dial("http://localhost:4443/anon?jwt=abc", None).expect("valid");
        assert_eq!(dial.session.as_str(), "https://localhost:4443/anon?jwt=abc");
        assert_eq!(
            dial.fingerprint.expect("fingerprint").as_str(),
            "http://localhost:4443/certificate.sha256"
        );
    }

    #[test]
    fn https_is_dialled_as_given() {
        let dial = dial("https://relay.example.com/anon", None).expect("valid");
        assert_eq!(dial.session.as_str(), "https://relay.example.com/anon");
        assert_eq!(dial.fingerprint, None);
    }

    #[test]
    fn https_with_a_fingerprint_url_is_pinned_with_it() {
        let dial = dial(
            "https://desk.test:4443/anon?jwt=abc",
            Some("https://desk.test:8443/certificate.sha256"),
        )
        .expect("valid");
        assert_eq!(dial.session.as_str(), "https://desk.test:4443/anon?jwt=abc");
        assert_eq!(
            dial.fingerprint.expect("fingerprint").as_str(),
            "https://desk.test:8443/certificate.sha256"
        );
    }

    #[test]
    fn http_with_a_fingerprint_url_uses_it_instead_of_the_convention() {
        let dial = dial(
            "http://localhost:4443/",
            Some("http://localhost:8080/certificate.sha256"),
        )
        .expect("valid");
        assert_eq!(dial.session.as_str(), "https://localhost:4443/");
        assert_eq!(
            dial.fingerprint.expect("fingerprint").as_str(),
            "http://localhost:8080/certificate.sha256"
        );
    }

    #[test]
    fn other_urls_are_clear_errors() {
        assert!(
            dial("ws://localhost:4443/", None)
                .expect_err("scheme")
                .contains("http:// or https://")
        );
        assert!(
            dial("not a url", None)
                .expect_err("syntax")
                .contains("bad relay URL")
        );
        assert!(
            dial("https://localhost:4443/", Some("/certificate.sha256"))
                .expect_err("relative")
                .contains("bad certificate fingerprint URL")
        );
        assert!(
            dial(
                "https://localhost:4443/",
                Some("file:///certificate.sha256")
            )
            .expect_err("scheme")
            .contains("fingerprint URL must be http:// or https://")
        );
    }
}
