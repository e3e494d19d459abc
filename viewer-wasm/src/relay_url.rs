//! Where to dial. MoQ clients given `http://host:port/path` fetch the relay's self-signed
//! certificate fingerprint from `http://host:port/certificate.sha256` and open WebTransport to
//! `https://host:port/path`; an `https://` URL is dialled as is, trusting the system roots.

use url::Url;

/// The URLs one connection attempt needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// The WebTransport session URL.
    pub session: Url,
    /// Where the certificate's hex SHA-256 is served, for a development relay.
    pub fingerprint: Option<Url>,
}

/// Work out what to dial for the relay URL the page was given.
pub fn dial(relay: &str) -> Result<Dial, String> {
    let url = Url::parse(relay).map_err(|err| format!("bad relay URL {relay:?}: {err}"))?;
    match url.scheme() {
        "https" => Ok(Dial {
            session: url,
            fingerprint: None,
        }),
        "http" => {
            let mut fingerprint = url.clone();
            fingerprint.set_path("/certificate.sha256");
            fingerprint.set_query(None);
            fingerprint.set_fragment(None);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_means_a_development_relay_with_a_fingerprint() {
        let dial = dial("http://localhost:4443/anon?jwt=abc").expect("valid");
        assert_eq!(dial.session.as_str(), "https://localhost:4443/anon?jwt=abc");
        assert_eq!(
            dial.fingerprint.expect("fingerprint").as_str(),
            "http://localhost:4443/certificate.sha256"
        );
    }

    #[test]
    fn https_is_dialled_as_given() {
        let dial = dial("https://relay.example.com/anon").expect("valid");
        assert_eq!(dial.session.as_str(), "https://relay.example.com/anon");
        assert_eq!(dial.fingerprint, None);
    }

    #[test]
    fn other_urls_are_clear_errors() {
        assert!(
            dial("ws://localhost:4443/")
                .expect_err("scheme")
                .contains("http:// or https://")
        );
        assert!(
            dial("not a url")
                .expect_err("syntax")
                .contains("bad relay URL")
        );
    }
}
