//! A relay that refuses anonymous publishing (our relay's public access: every session needs a
//! token signed with its key): the publisher says why in one line and where a token goes,
//! publishes once given one by file, names a token the relay refuses — and never prints a token.

#[allow(dead_code, unused_imports)] // every test file uses its own part of the shared support
mod support;

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;

use support::{first_catalog, open, start_relay_with};

/// A small, cheap stream: these tests are about admission, not pictures.
const LIGHT: [&str; 9] = [
    "--source",
    "test",
    "--no-audio",
    "--renditions",
    "1",
    "--size",
    "640x360",
    "--bitrate",
    "300",
];

const NO_TOKEN_LINE: &str = "relay refused this publisher (unauthorized): it needs a publish \
                             token — pass --token-file FILE or set PUBLISHER_TOKEN";

/// A relay admitting only sessions with its tokens, and its publisher URL.
async fn public_relay() -> anyhow::Result<(relay::Running, String)> {
    let relay = start_relay_with(relay::Access::Public { hosts: Vec::new() }).await?;
    let url = format!(
        "http://localhost:{}/{}",
        relay.quic.port(),
        relay::access::PATH
    );
    Ok((relay, url))
}

/// A publish token of `relay`'s, as `relay token` would mint it.
fn publish_token(relay: &relay::Running) -> anyhow::Result<String> {
    let key_file = relay
        .auth_key
        .as_ref()
        .context("a public relay has a key")?;
    let key = relay::tokens::signing_key(key_file)?;
    relay::tokens::mint(&key, relay::tokens::Role::Publish, None)
}

/// The publisher binary, running with `args` (and [`LIGHT`]) and `PUBLISHER_TOKEN` set to
/// `env_token` (unset without one).
struct Run(tokio::process::Child);

impl Run {
    fn start(args: &[&str], env_token: Option<&str>) -> anyhow::Result<Self> {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_publisher"));
        command
            .args(args)
            .args(LIGHT)
            .env_remove("PUBLISHER_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(token) = env_token {
            command.env("PUBLISHER_TOKEN", token);
        }
        Ok(Self(command.spawn()?))
    }

    /// Stop it and hand back everything it printed.
    async fn output(mut self) -> anyhow::Result<String> {
        self.0.start_kill()?;
        let out = tokio::time::timeout(Duration::from_secs(10), self.0.wait_with_output())
            .await
            .context("the publisher's output did not end")??;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_publisher_is_told_once_that_it_needs_a_token() -> anyhow::Result<()> {
    let (_relay, url) = public_relay().await?;
    let run = Run::start(&["--name", "anonymous", "--url", &url], None)?;
    // Attempts at 0, 0.5, 1.5 and 3.5 s; the status line comes at 4 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let output = run.output().await?;
    assert_eq!(
        output.matches(NO_TOKEN_LINE).count(),
        1,
        "said once, not at every retry: {output}"
    );
    assert!(
        output.contains("publisher: refused "),
        "the status line: {output}"
    );
    assert!(!output.contains("connected to"), "{output}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_publishes_and_the_token_is_never_printed() -> anyhow::Result<()> {
    let (relay, url) = public_relay().await?;
    let token = publish_token(&relay)?;
    let file = relay.state_dir.join("publish-test.jwt");
    std::fs::write(&file, format!("{token}\n"))?;
    let run = Run::start(
        &[
            "--name",
            "tokened",
            "--url",
            &url,
            "--token-file",
            file.to_str().context("a UTF-8 path")?,
        ],
        None,
    )?;
    // The token grants watching too.
    let watch_url = format!("{url}?jwt={token}");
    let watched = async {
        let (_connection, broadcast) = open(&watch_url, "tokened").await?;
        first_catalog(&broadcast, |catalog| !catalog.video.renditions.is_empty()).await
    };
    let catalog = tokio::time::timeout(Duration::from_secs(30), watched).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let output = run.output().await?;
    catalog
        .context("no catalog in time")?
        .with_context(|| format!("watching the published broadcast; publisher said: {output}"))?;
    assert!(
        output.contains(&format!("connected to {url}?jwt=…")),
        "{output}"
    );
    assert!(!output.contains("refused"), "{output}");
    assert!(!output.contains(&token), "the token was printed: {output}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_named_by_where_it_came_from_and_not_shown() -> anyhow::Result<()> {
    let (_relay, url) = public_relay().await?;
    let url = format!("{url}?jwt=SECRET-IN-URL");
    let run = Run::start(
        &["--name", "stranger", "--url", &url],
        Some("SECRET-IN-ENV.not.signed"),
    )?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let output = run.output().await?;
    assert!(
        output.contains(
            "relay refused this publisher's token from PUBLISHER_TOKEN (unauthorized): it is \
             invalid or expired, or grants no publishing at /anon"
        ),
        "{output}"
    );
    assert!(
        output.contains("--url carries a token too")
            && output.contains("using the one from PUBLISHER_TOKEN"),
        "warns that a token in --url shows in ps: {output}"
    );
    assert!(output.contains("jwt=…"), "{output}");
    assert!(!output.contains("SECRET"), "a token was printed: {output}");
    Ok(())
}

#[test]
fn an_empty_token_file_is_an_error_naming_it() {
    let file = std::env::temp_dir().join(format!("publisher-empty-{}.jwt", std::process::id()));
    std::fs::write(&file, "\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_publisher"))
        .arg("--token-file")
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("run publisher");
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "publisher: error: the token file {} is empty: it should hold only the relay's \
             publish token",
            file.display()
        )),
        "{stderr}"
    );
}
