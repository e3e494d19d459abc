//! The self-signed certificate a relay without a configured one serves, on QUIC and on its
//! HTTPS page alike, and its renewal.
//!
//! Browsers pin such a certificate by hash (WebTransport `serverCertificateHashes`) only when it
//! is ECDSA and valid for at most 14 days, so a relay left running renews it before it expires:
//! [`Issued::renew_at`] says when. The key pair is kept across renewals, so a browser told to trust the
//! relay's key (or a user who accepted it) keeps trusting it; only the certificate changes.
//!
//! The files live in a state directory: `cert.pem`, `key.pem` (owner-only) and `cert.toml`, the
//! validity and names the certificate was issued with, so a restarted relay can reuse a
//! certificate that is still fresh instead of making every browser warn again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The longest validity browsers accept for a hash-pinned certificate.
pub const MAX_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

/// What a certificate was issued for, stored beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: u64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: u64,
    /// The DNS names and IP addresses in the certificate.
    pub names: Vec<String>,
    /// Hex SHA-256 of the certificate (what WebTransport `serverCertificateHashes` pins and
    /// the relay serves at `/certificate.sha256`).
    #[serde(default)]
    pub fingerprint: String,
    /// Base64 SHA-256 of the public key (what Chromium's `--ignore-certificate-errors-spki-list`
    /// takes); it stays the same across renewals.
    #[serde(default)]
    pub spki_sha256: String,
}

impl Issued {
    /// The validity window for a certificate issued at `now` with `lifetime`: backdated by a
    /// fourteenth of it (a day for the full 14 days), so a viewer whose clock is a little behind
    /// still accepts it, and ending `lifetime` after that start.
    pub fn window(now: SystemTime, lifetime: Duration, names: Vec<String>) -> Self {
        let now = unix_seconds(now);
        let lifetime = lifetime.min(MAX_LIFETIME).as_secs().max(2);
        let not_before = now.saturating_sub(lifetime / 14);
        Self {
            not_before,
            not_after: not_before + lifetime,
            names,
            fingerprint: String::new(),
            spki_sha256: String::new(),
        }
    }

    /// When to renew: three quarters of the way through the validity, which leaves days for a
    /// full-length certificate (and seconds for the short ones tests use).
    pub fn renew_at(&self) -> SystemTime {
        let span = self.not_after.saturating_sub(self.not_before);
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.not_before + span * 3 / 4)
    }

    /// Whether this certificate can still be served for `names` at `now`, with `lifetime` as
    /// the policy: every name covered, no longer than the policy allows, and not yet due.
    pub fn reusable(&self, names: &[String], lifetime: Duration, now: SystemTime) -> bool {
        let covers = names.iter().all(|name| self.names.contains(name));
        let span = self.not_after.saturating_sub(self.not_before);
        covers && span <= lifetime.min(MAX_LIFETIME).as_secs() && now < self.renew_at()
    }
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0)
}

/// The certificate being served now, shared between its renewal and whoever reports it.
#[derive(Clone, Debug)]
pub struct Served(Arc<RwLock<Issued>>);

impl Served {
    pub fn new(issued: Issued) -> Self {
        Self(Arc::new(RwLock::new(issued)))
    }

    /// The certificate served now.
    pub fn get(&self) -> Issued {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, issued: Issued) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = issued;
    }
}

/// A self-signed certificate kept in a directory.
#[derive(Clone, Debug)]
pub struct SelfSigned {
    dir: PathBuf,
    names: Vec<String>,
    lifetime: Duration,
}

impl SelfSigned {
    /// The certificate for `names` kept in `dir`, issued for `lifetime` (at most 14 days).
    pub fn new(dir: &Path, names: Vec<String>, lifetime: Duration) -> Self {
        Self {
            dir: dir.to_owned(),
            names,
            lifetime: lifetime.min(MAX_LIFETIME),
        }
    }

    /// The certificate chain file (PEM).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The private key file (PEM, PKCS#8).
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    fn issued_path(&self) -> PathBuf {
        self.dir.join("cert.toml")
    }

    /// The certificate to serve now: the stored one if it is still good for these names,
    /// otherwise a new one (with the stored key, or a new key if there is none).
    pub fn ensure(&self, now: SystemTime) -> anyhow::Result<Issued> {
        match self.stored() {
            Some(issued) if issued.reusable(&self.names, self.lifetime, now) => Ok(issued),
            _ => self.issue(now),
        }
    }

    /// Issue a new certificate valid from `now`, keeping the key pair, and write it in place
    /// (the certificate file is replaced by a rename, so a watcher never reads half of it).
    pub fn issue(&self, now: SystemTime) -> anyhow::Result<Issued> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let key = self.key()?;
        let mut issued = Issued::window(now, self.lifetime, self.names.clone());
        let mut params =
            rcgen::CertificateParams::new(self.names.clone()).context("certificate names")?;
        params.not_before = time::OffsetDateTime::from_unix_timestamp(issued.not_before as i64)?;
        params.not_after = time::OffsetDateTime::from_unix_timestamp(issued.not_after as i64)?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "live-desktop relay (self-signed)",
        );
        let cert = params
            .self_signed(&key)
            .context("signing the certificate")?;
        issued.fingerprint = hex(&sha256(cert.der()));
        issued.spki_sha256 = base64::engine::general_purpose::STANDARD
            .encode(sha256(&rcgen::PublicKeyData::subject_public_key_info(&key)));
        write_replacing(&self.cert_path(), cert.pem().as_bytes(), false)?;
        write_replacing(
            &self.issued_path(),
            toml::to_string(&issued)?.as_bytes(),
            false,
        )?;
        Ok(issued)
    }

    /// Renew the certificate before it expires, for as long as the caller polls: each new one
    /// is written in place, recorded in `served`, and then handed to `renewed` (which reloads
    /// whatever does not watch the files itself).
    pub async fn renew<F, Fut>(self, served: Served, mut renewed: F) -> anyhow::Result<()>
    where
        F: FnMut(Issued) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        loop {
            let due = served.get().renew_at();
            let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(wait).await;
            match self.issue(SystemTime::now()) {
                Ok(issued) => {
                    served.set(issued.clone());
                    renewed(issued).await?;
                }
                Err(err) => {
                    tracing::warn!(%err, "renewing the certificate failed; retrying in a minute");
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            }
        }
    }

    fn stored(&self) -> Option<Issued> {
        let text = std::fs::read_to_string(self.issued_path()).ok()?;
        let issued = toml::from_str(&text).ok()?;
        (self.cert_path().is_file() && self.key_path().is_file()).then_some(issued)
    }

    /// The stored key pair, or a new ECDSA P-256 one written owner-only.
    fn key(&self) -> anyhow::Result<rcgen::KeyPair> {
        let path = self.key_path();
        if let Ok(pem) = std::fs::read_to_string(&path) {
            return rcgen::KeyPair::from_pem(&pem)
                .with_context(|| format!("reading the key in {}", path.display()));
        }
        let key = rcgen::KeyPair::generate().context("generating a key pair")?;
        write_replacing(&path, key.serialize_pem().as_bytes(), true)?;
        Ok(key)
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Write `bytes` to `path` through a temporary file and a rename. `secret` files are created
/// readable by their owner only.
pub fn write_replacing(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let temp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options
        .open(&temp)
        .with_context(|| format!("writing {}", temp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_full_certificate_spans_fourteen_days_from_yesterday_and_renews_with_days_to_spare() {
        let issued = Issued::window(at(100 * DAY), MAX_LIFETIME, vec!["localhost".into()]);
        assert_eq!(issued.not_before, 99 * DAY);
        assert_eq!(issued.not_after - issued.not_before, 14 * DAY);
        let renew = unix_seconds(issued.renew_at());
        assert_eq!(renew, 99 * DAY + 14 * DAY * 3 / 4);
        assert!(issued.not_after - renew >= 3 * DAY);
    }

    #[test]
    fn no_lifetime_exceeds_what_browsers_pin() {
        let issued = Issued::window(at(100 * DAY), 90 * MAX_LIFETIME, vec![]);
        assert_eq!(issued.not_after - issued.not_before, 14 * DAY);
    }

    #[test]
    fn a_stored_certificate_is_reused_only_while_fresh_and_covering_the_names() {
        let names = vec!["localhost".to_string(), "desk.lan".to_string()];
        let issued = Issued::window(at(100 * DAY), MAX_LIFETIME, names.clone());
        assert!(issued.reusable(&names, MAX_LIFETIME, at(101 * DAY)));
        assert!(issued.reusable(&names[..1], MAX_LIFETIME, at(101 * DAY)));
        assert!(!issued.reusable(&["other".into()], MAX_LIFETIME, at(101 * DAY)));
        assert!(!issued.reusable(&names, MAX_LIFETIME, issued.renew_at()));
        // A relay asked for shorter certificates does not keep serving a long one.
        assert!(!issued.reusable(&names, Duration::from_secs(60), at(101 * DAY)));
    }

    #[test]
    fn renewal_writes_a_new_certificate_with_the_same_key() {
        let dir = std::env::temp_dir().join(format!("relay-cert-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cert = SelfSigned::new(&dir, vec!["localhost".into()], Duration::from_secs(60));
        let now = SystemTime::now();
        let first = cert.ensure(now).expect("issue");
        let first_pem = std::fs::read_to_string(cert.cert_path()).unwrap();
        let key_pem = std::fs::read_to_string(cert.key_path()).unwrap();
        assert_eq!(
            cert.ensure(now).expect("reuse"),
            first,
            "a fresh one is reused"
        );
        assert_eq!(
            std::fs::read_to_string(cert.cert_path()).unwrap(),
            first_pem
        );

        assert_eq!(first.fingerprint.len(), 64);
        let renewed = cert.ensure(first.renew_at()).expect("renew");
        assert_ne!(renewed.fingerprint, first.fingerprint);
        assert_eq!(renewed.spki_sha256, first.spki_sha256, "same key");
        assert!(renewed.not_after > first.not_after);
        assert_ne!(
            std::fs::read_to_string(cert.cert_path()).unwrap(),
            first_pem
        );
        assert_eq!(std::fs::read_to_string(cert.key_path()).unwrap(), key_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cert.key_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is owner-only");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
