//! The publish token: where it comes from and how it reaches the relay.
//!
//! A relay that refuses anonymous publishing wants a token (a JWT) in the `jwt` query parameter
//! of the URL the publisher dials. It is given by file (`--token-file`) or by the environment
//! (`PUBLISHER_TOKEN`), never on the command line where other users see it in `ps`; a `?jwt=`
//! already in `--url` still works, with a warning. [`Relay`] is the URL to dial with the token
//! in it, and shows that URL with the token hidden.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;

use token_redact::redact;

/// The environment variable holding the token when no `--token-file` is given.
pub const ENV: &str = "PUBLISHER_TOKEN";

/// Where the token came from, to name it when the relay refuses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Env,
    Url,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "--token-file {}", path.display()),
            Source::Env => f.write_str(ENV),
            Source::Url => f.write_str("the jwt in --url"),
        }
    }
}

/// A publish token and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub secret: String,
    pub source: Source,
}

/// The token given to the publisher: read from `file` when there is one, else the value of
/// [`ENV`] (`env`), else none. Surrounding whitespace (a file's final newline) is dropped; an
/// unreadable or empty file, or an empty variable, is an error rather than no token.
pub fn given(file: Option<&Path>, env: Option<OsString>) -> anyhow::Result<Option<Token>> {
    const WANTED: &str = "it should hold only the relay's publish token";
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        let secret = checked(&text)
            .map_err(|why| anyhow::anyhow!("the token file {} {why}: {WANTED}", path.display()))?;
        return Ok(Some(Token {
            secret,
            source: Source::File(path.to_path_buf()),
        }));
    }
    let Some(value) = env else {
        return Ok(None);
    };
    let text = value
        .into_string()
        .map_err(|_| anyhow::anyhow!("{ENV} is not valid UTF-8: {WANTED}"))?;
    let secret = checked(&text).map_err(|why| {
        anyhow::anyhow!("{ENV} {why}: {WANTED} (did the command that filled it fail?)")
    })?;
    Ok(Some(Token {
        secret,
        source: Source::Env,
    }))
}

/// `text` trimmed, if it is one non-empty word; otherwise what is wrong with it.
fn checked(text: &str) -> Result<String, &'static str> {
    let secret = text.trim();
    if secret.is_empty() {
        return Err("is empty");
    }
    if secret.contains(char::is_whitespace) {
        return Err("holds more than one word");
    }
    Ok(secret.to_string())
}

/// The relay to dial, with the token (if any) in its URL.
#[derive(Clone, Debug)]
pub struct Relay {
    /// The URL to dial: it holds the token, so never print it; print [`Relay::shown`].
    pub url: url::Url,
    pub token: Option<Token>,
}

impl Relay {
    /// `url` (`--url`) with the `given` token as its `jwt` parameter, replacing any there, and a
    /// warning to print when `--url` carried a token itself (other users can see it in `ps`).
    pub fn new(mut url: url::Url, given: Option<Token>) -> (Self, Option<String>) {
        let in_url = url
            .query_pairs()
            .find(|(key, value)| key == "jwt" && !value.is_empty())
            .map(|(_, value)| value.into_owned());
        let Some(token) = given else {
            let warning = in_url.is_some().then(|| {
                format!(
                    "the token in --url is visible to other users of this machine (ps); \
                     pass it with --token-file FILE or {ENV} instead"
                )
            });
            let token = in_url.map(|secret| Token {
                secret,
                source: Source::Url,
            });
            return (Self { url, token }, warning);
        };
        let warning = in_url.is_some().then(|| {
            format!(
                "--url carries a token too (visible to other users of this machine in ps): \
                 using the one from {} instead",
                token.source
            )
        });
        let others: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(key, _)| key != "jwt")
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        url.set_query(None);
        url.query_pairs_mut()
            .extend_pairs(others)
            .append_pair("jwt", &token.secret);
        let relay = Self {
            url,
            token: Some(token),
        };
        (relay, warning)
    }

    /// The URL as it may be printed: the token hidden.
    pub fn shown(&self) -> String {
        self.redact(self.url.as_str())
    }

    /// `text` (a message that may hold the URL or the token) with the token hidden.
    pub fn redact(&self, text: &str) -> String {
        redact(text, self.token.as_ref().map(|token| token.secret.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        text.parse().unwrap()
    }

    fn token(secret: &str, source: Source) -> Token {
        Token {
            secret: secret.into(),
            source,
        }
    }

    #[test]
    fn a_token_file_is_read_and_trimmed_and_wins_over_the_environment() {
        let dir = std::env::temp_dir().join(format!("publisher-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("publish.jwt");
        std::fs::write(&file, "  eyJ.payload.sig\n").unwrap();
        let got = given(Some(&file), Some("from-env".into())).unwrap();
        assert_eq!(
            got,
            Some(token("eyJ.payload.sig", Source::File(file.clone())))
        );

        std::fs::write(&file, "\n \n").unwrap();
        let err = format!("{:#}", given(Some(&file), None).unwrap_err());
        assert!(
            err.contains("publish.jwt") && err.contains("empty"),
            "{err}"
        );
        std::fs::write(&file, "two\nwords").unwrap();
        let err = format!("{:#}", given(Some(&file), None).unwrap_err());
        assert!(err.contains("more than one word"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_token_file_is_an_error_naming_it() {
        let err = given(Some(Path::new("/nonexistent/publish.jwt")), None).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("cannot read the token file /nonexistent/publish.jwt"),
            "{err}"
        );
    }

    #[test]
    fn the_environment_gives_the_token_when_there_is_no_file() {
        assert_eq!(given(None, None).unwrap(), None);
        assert_eq!(
            given(None, Some(" tok\n".into())).unwrap(),
            Some(token("tok", Source::Env))
        );
        let err = format!("{:#}", given(None, Some("".into())).unwrap_err());
        assert!(
            err.contains("PUBLISHER_TOKEN") && err.contains("empty"),
            "{err}"
        );
    }

    #[test]
    fn the_token_goes_into_the_url_as_jwt_and_is_never_shown() {
        let (relay, warning) = Relay::new(
            url("https://relay.example.com/anon?x=1"),
            Some(token("s3cret", Source::Env)),
        );
        assert_eq!(warning, None);
        assert_eq!(
            relay.url.as_str(),
            "https://relay.example.com/anon?x=1&jwt=s3cret"
        );
        assert_eq!(relay.shown(), "https://relay.example.com/anon?x=1&jwt=…");
        assert_eq!(
            relay.redact("closed: s3cret rejected"),
            "closed: … rejected"
        );
    }

    #[test]
    fn a_given_token_replaces_one_in_the_url_with_a_warning() {
        let (relay, warning) = Relay::new(
            url("https://relay.example.com/anon?jwt=old&x=1"),
            Some(token("new", Source::File("publish.jwt".into()))),
        );
        assert_eq!(
            relay.url.as_str(),
            "https://relay.example.com/anon?x=1&jwt=new"
        );
        let warning = warning.expect("a warning");
        assert!(
            warning.contains("ps") && warning.contains("--token-file publish.jwt"),
            "{warning}"
        );
        assert!(!warning.contains("old"), "{warning}");
    }

    #[test]
    fn a_token_in_the_url_still_works_with_a_warning_and_is_hidden() {
        let (relay, warning) = Relay::new(url("http://desk.lan:4443/anon?jwt=abc.def"), None);
        assert_eq!(relay.url.as_str(), "http://desk.lan:4443/anon?jwt=abc.def");
        assert_eq!(relay.token, Some(token("abc.def", Source::Url)));
        assert_eq!(relay.shown(), "http://desk.lan:4443/anon?jwt=…");
        let warning = warning.expect("a warning");
        assert!(
            warning.contains("ps") && warning.contains("--token-file") && warning.contains(ENV),
            "{warning}"
        );
    }

    #[test]
    fn no_token_leaves_the_url_alone() {
        let (relay, warning) = Relay::new(url("http://localhost:4443/anon"), None);
        assert_eq!(
            (relay.url.as_str(), relay.token, warning),
            ("http://localhost:4443/anon", None, None)
        );
    }
}
