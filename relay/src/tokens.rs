//! Who may publish and watch: the relay's signing key, the tokens it mints, and the admission
//! of each session by moq-auth's own reference policy (the one `moq auth serve` runs), answered
//! in process instead of over HTTP.
//!
//! Tokens are moq-auth JWTs presented as the `jwt` query parameter of the relay URL. A publish
//! token grants publishing (and watching) every broadcast; a watch token grants subscribing
//! only. Sessions without a valid token are refused, and so are the relay's `/announced` and
//! `/fetch` web routes, which ask the same question.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use moq_auth::{Algorithm, Claims, Key, Pattern};

/// What a token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Publish any broadcast (and watch).
    Publish,
    /// Watch any broadcast, publish nothing.
    Watch,
    /// Publish and watch everything: what a cluster peer presents to another relay.
    Cluster,
}

/// The claims a token for `role` carries, expiring at `expires` (if any).
pub fn claims(role: Role, expires: Option<SystemTime>) -> Claims {
    let everything = || vec![Pattern::subtree("").expect("`**` is a pattern")];
    let claims = match role {
        Role::Publish | Role::Cluster => Claims::default()
            .with_publish(everything())
            .with_subscribe(everything()),
        Role::Watch => Claims::default().with_subscribe(everything()),
    };
    claims.with_issued(SystemTime::now()).with_expires(expires)
}

/// The relay's signing key in `path`, made (ES256, owner-only) if there is none yet.
pub fn signing_key(path: &Path) -> anyhow::Result<Key> {
    if path.is_file() {
        return Key::from_file(path).with_context(|| format!("reading {}", path.display()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = Key::generate(Algorithm::ES256, None).context("generating a signing key")?;
    key.to_file(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

/// A token for `role`, signed with `key`, valid for `valid_for` (forever when `None`).
pub fn mint(key: &Key, role: Role, valid_for: Option<Duration>) -> anyhow::Result<String> {
    let expires = valid_for.map(|valid_for| SystemTime::now() + valid_for);
    key.sign(&claims(role, expires))
        .context("signing the token")
}

/// Answer every session the relay is waiting to admit, by the reference policy with the
/// verify key in `key_file`: a valid token is granted what it claims, anything else refused.
pub async fn admit(
    mut admissions: moq_relay::auth::Admissions,
    key_file: PathBuf,
) -> anyhow::Result<()> {
    let mut policy = moq_auth::serve::Policy::default();
    policy.keys = Some(moq_auth::serve::Keys::File(key_file));
    let server = moq_auth::serve::Server::new(policy).context("building the token policy")?;
    while let Some(admission) = admissions.next().await {
        let server = server.clone();
        tokio::spawn(async move {
            match server.answer(&admission.request).await {
                Ok(Some(grant)) => admission.grant(moq_auth::lease::Consumer::fixed(grant)),
                Ok(None) => admission.refuse(moq_relay::auth::Error::Refused),
                Err(refusal) => {
                    tracing::info!(path = %admission.request.path, %refusal, "session refused");
                    admission.refuse(moq_relay::auth::Error::Refused);
                }
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, jwt: Option<&str>) -> moq_auth::Request {
        let mut request = moq_auth::Request::new("test", moq_auth::Transport::Quic, path);
        request.query = jwt.map(|jwt| format!("jwt={jwt}"));
        request
    }

    async fn decide(key_file: &Path, request: &moq_auth::Request) -> Option<moq_auth::Grant> {
        let mut policy = moq_auth::serve::Policy::default();
        policy.keys = Some(moq_auth::serve::Keys::File(key_file.to_owned()));
        let server = moq_auth::serve::Server::new(policy).unwrap();
        server.answer(request).await.ok().flatten()
    }

    #[tokio::test]
    async fn publish_tokens_publish_watch_tokens_only_watch_and_strangers_get_nothing() {
        let dir = std::env::temp_dir().join(format!("relay-tokens-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let key_file = dir.join("relay.jwk");
        let key = signing_key(&key_file).expect("key");
        let reloaded = signing_key(&key_file).unwrap();
        reloaded
            .verify(&mint(&key, Role::Watch, None).unwrap())
            .expect("the stored key is reused");

        let publish = mint(&key, Role::Publish, None).unwrap();
        let grant = decide(&key_file, &request("/", Some(&publish)))
            .await
            .expect("publisher admitted");
        assert!(!grant.publish.is_empty() && !grant.subscribe.is_empty());

        let watch = mint(&key, Role::Watch, Some(Duration::from_secs(3600))).unwrap();
        let grant = decide(&key_file, &request("/", Some(&watch)))
            .await
            .expect("viewer admitted");
        assert!(grant.publish.is_empty() && !grant.subscribe.is_empty());

        assert!(decide(&key_file, &request("/", None)).await.is_none());
        let stranger = mint(
            &Key::generate(Algorithm::ES256, None).unwrap(),
            Role::Publish,
            None,
        )
        .unwrap();
        assert!(
            decide(&key_file, &request("/", Some(&stranger)))
                .await
                .is_none()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
