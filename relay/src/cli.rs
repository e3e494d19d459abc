//! The relay's command line: its arguments and the small pure rules behind their defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use moq_tokio::quic::CongestionControl;
use relay::tokens::Role;

/// Running the relay.
#[derive(Args)]
pub struct Run {
    /// Listen on every interface so other machines can watch, and require tokens: the relay
    /// makes a signing key, a publish token file and a watch link, and serves the page over
    /// HTTPS with its self-signed certificate.
    #[arg(long, conflicts_with = "config")]
    pub public: bool,
    /// The name (or address) other machines reach this one by, for the certificate and the
    /// printed links; repeat for more. Defaults to this machine's host name.
    #[arg(long, value_name = "NAME", requires = "public")]
    pub host: Vec<String>,
    /// A moq-relay TOML configuration file (certificates, auth, cluster): production.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Admit sessions by tokens signed with this key (a moq-auth JWK, e.g. from `relay
    /// --public`'s state directory), for a --config without an [auth] section.
    #[arg(long, value_name = "FILE", requires = "config")]
    pub auth_key: Option<PathBuf>,
    /// QUIC/WebTransport port; the certificate fingerprint is served over TCP on the same port
    /// number (ignored with --config, which says where to listen).
    #[arg(long, default_value_t = 4443)]
    pub port: u16,
    /// Port of the plain-HTTP page (on this machine, http://localhost is a secure page).
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    /// Port of the HTTPS page, the one other machines open.
    #[arg(long, default_value_t = 8443)]
    pub https_port: u16,
    /// Where the certificate, the signing key and the publish token are kept. Default: a
    /// temporary directory for the loopback relay; otherwise $XDG_STATE_HOME/live-desktop-relay
    /// (~/.local/state/…, %LOCALAPPDATA%\live-desktop-relay on Windows).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How long the printed watch link works, e.g. 12h, 7d, or `never`.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_valid_for)]
    pub watch_link_valid_for: ValidFor,
    /// Validity of the self-signed certificate in seconds (at most 14 days; renewed after three
    /// quarters of it). For testing renewal.
    #[arg(long, default_value_t = 14 * 24 * 3600, hide = true)]
    pub cert_lifetime_secs: u64,
    /// Directory holding the page (defaults to the checkout's `www/`).
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,
    /// Directory holding the built viewer (defaults to the checkout's `target/web/`).
    #[arg(long, value_name = "DIR")]
    pub pkg: Option<PathBuf>,
    /// QUIC congestion control: `delay` (BBRv3, the default: it keeps queues short and holds
    /// its rate through random loss) or `loss` (CUBIC).
    #[arg(long, value_name = "delay|loss", value_parser = parse_congestion_control)]
    pub congestion_control: Option<CongestionControl>,
}

/// `delay` or `loss`, any case.
pub fn parse_congestion_control(text: &str) -> Result<CongestionControl, String> {
    text.parse()
}

/// Minting a token.
#[derive(Args)]
pub struct Token {
    /// What the token allows: publish, watch, or cluster (what one relay presents to another).
    #[arg(long, value_enum, default_value = "watch")]
    pub role: Role,
    /// How long it works, e.g. 90m, 12h, 30d, or `never`.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_valid_for)]
    pub valid_for: ValidFor,
    /// The signing key (default: the one `relay --public` keeps in its state directory).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// A validity: a duration, or `None` for never expiring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidFor(pub Option<Duration>);

/// `90s`, `90m`, `12h`, `30d` or `never`.
pub fn parse_valid_for(text: &str) -> Result<ValidFor, String> {
    if text == "never" {
        return Ok(ValidFor(None));
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 24 * 3600,
        _ => {
            return Err(format!(
                "{text:?}: write a number and s, m, h or d (e.g. 7d), or never"
            ));
        }
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 => Ok(ValidFor(Some(Duration::from_secs(n * seconds)))),
        _ => Err(format!(
            "{text:?}: write a positive number and s, m, h or d (e.g. 7d)"
        )),
    }
}

/// A validity in words, for the printed link.
pub fn describe(valid: Duration) -> String {
    let seconds = valid.as_secs();
    match seconds {
        s if s % (24 * 3600) == 0 => format!("{} days", s / (24 * 3600)),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// The state directory: the one given, else the platform's per-user state directory.
pub fn state_dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        state_home(|name| std::env::var_os(name).map(PathBuf::from)).join("live-desktop-relay")
    })
}

fn state_home(var: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    var("XDG_STATE_HOME")
        .or_else(|| var("HOME").map(|home| home.join(".local").join("state")))
        .or_else(|| var("LOCALAPPDATA"))
        .unwrap_or_else(std::env::temp_dir)
}

/// This machine's name, as other machines on the LAN most likely know it.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn congestion_controllers_read_by_name() {
        assert_eq!(
            parse_congestion_control("delay"),
            Ok(CongestionControl::Delay)
        );
        assert_eq!(
            parse_congestion_control("LOSS"),
            Ok(CongestionControl::Loss)
        );
        assert!(parse_congestion_control("bbr").is_err());
    }

    #[test]
    fn validities_read_as_people_write_them() {
        assert_eq!(parse_valid_for("never"), Ok(ValidFor(None)));
        assert_eq!(
            parse_valid_for("7d"),
            Ok(ValidFor(Some(Duration::from_secs(7 * 24 * 3600))))
        );
        assert_eq!(
            parse_valid_for("90m"),
            Ok(ValidFor(Some(Duration::from_secs(5400))))
        );
        for bad in ["", "7", "d", "0h", "-1d", "7w"] {
            assert!(parse_valid_for(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(describe(Duration::from_secs(7 * 24 * 3600)), "7 days");
        assert_eq!(describe(Duration::from_secs(5400)), "90 minutes");
    }

    #[test]
    fn state_lives_where_the_platform_keeps_per_user_state() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| PathBuf::from(value))
            }
        };
        assert_eq!(
            state_home(env(&[("XDG_STATE_HOME", "/x"), ("HOME", "/h")])),
            PathBuf::from("/x")
        );
        assert_eq!(
            state_home(env(&[("HOME", "/h")])),
            PathBuf::from("/h/.local/state")
        );
        assert_eq!(
            state_home(env(&[("LOCALAPPDATA", "C:/Users/u/AppData/Local")])),
            PathBuf::from("C:/Users/u/AppData/Local")
        );
    }
}
