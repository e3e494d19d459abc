//! Browser tests for watching from another machine (issue 9): a public relay with tokens
//! played from a name that is not localhost, the plain-language answer to an insecure page,
//! a default relay that really listens on loopback only, a two-relay cluster, and a renewed
//! and then restarted certificate that viewer and publisher follow by themselves.
//!
//! "Another machine" is Chromium with `--host-resolver-rules` mapping [`HOST`] to loopback: the
//! page's origin is then not localhost, so the browser treats it as a remote one (secure only
//! over https). The relay's self-signed certificate is accepted for the https page the way a
//! user clicking through the warning would, with `--ignore-certificate-errors-spki-list` and the
//! key hash the relay keeps in `tls/cert.toml`; WebTransport pins it by hash as usual.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use viewer_wasm::telemetry::Report;

use crate::chromium::{Autoplay, Chromium, json};
use crate::e2e::{describe, wait_until_back};
use crate::live::{Mode, Output, Ports, Relay, Stack, wait_for_log_line};
use crate::page::Page;
use crate::temp_dir::TempDir;
use crate::{http, sockets};

/// The name the other machine knows the relay's machine by.
const HOST: &str = "desk.test";
/// What a publisher says when the relay refuses it.
const REFUSED: &str = "relay refused this publisher";
/// A cheap publisher, for the ones expected to be refused.
const LIGHT: [&str; 9] = [
    "--source",
    "test",
    "--size",
    "640x360",
    "--fps",
    "10",
    "--renditions",
    "1",
    "--no-audio",
];

/// `relay --public`: a publisher without a token is refused (and says so, and keeps trying),
/// one with a watch token too; with the publish token from the state directory it publishes;
/// the printed watch link plays on another machine; the relay's `/announced` and `/fetch` want
/// a token.
pub fn public_relay_plays_on_another_machine_with_tokens() -> anyhow::Result<()> {
    const NAME: &str = "remote";
    let state = TempDir::new("xtask-relay-public")?;
    let ports = Ports::free()?;
    let mut stack = public_relay(ports, state.path())?;
    let relay_log = stack.relay_log().context("no relay log")?.to_path_buf();
    let link = watch_link(&relay_log)?;
    let prefix = format!("https://{HOST}:{}/?name=screen#jwt=", ports.https);
    let watch_token = link
        .strip_prefix(&prefix)
        .with_context(|| format!("the watch link {link} does not start with {prefix}"))?
        .to_string();
    let token_file = state.path().join("publish.jwt");
    let publish_line = wait_for_log_line(&relay_log, "relay: publish with:", 1, SECOND * 5)?;
    let told = format!(
        "--url http://{HOST}:{}/anon --token-file {}",
        ports.quic,
        token_file.display()
    );
    ensure!(
        publish_line.contains(&told),
        "the relay's publish line does not say {told:?}: {publish_line}"
    );
    let publish_token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading {}", token_file.display()))?
        .trim()
        .to_string();
    ensure!(
        owner_only(&token_file)?,
        "{} is readable by others",
        token_file.display()
    );
    ensure!(
        !std::fs::read_to_string(&relay_log)?.contains(&publish_token),
        "the relay printed the publish token: {}",
        relay_log.display()
    );

    // Refused: no token, and a watch token (a watch link cannot publish).
    let watch_file = state.path().join("watch.jwt");
    std::fs::write(&watch_file, &watch_token)?;
    let started = Instant::now();
    let anonymous = stack.publish(NAME, &LIGHT)?;
    let mut with_watch_token = LIGHT.to_vec();
    with_watch_token.extend(["--token-file", path_str(&watch_file)?]);
    let watcher = stack.publish(NAME, &with_watch_token)?;
    let anonymous_log = stack.log_of(anonymous).context("no log")?.to_path_buf();
    let refusal = wait_for_log_line(&anonymous_log, REFUSED, 1, SECOND * 15)?;
    ensure!(
        refusal.contains("needs a publish token") && refusal.contains("--token-file"),
        "the refusal does not say what is missing: {refusal}"
    );
    let watcher_log = stack.log_of(watcher).context("no log")?.to_path_buf();
    let watcher_refusal = wait_for_log_line(&watcher_log, REFUSED, 1, SECOND * 15)?;
    let refused_in = started.elapsed();

    // Published with the token from the state directory.
    let published = stack.publish(
        NAME,
        &["--source", "test", "--token-file", path_str(&token_file)?],
    )?;
    let publisher_log = stack.log_of(published).context("no log")?.to_path_buf();
    wait_for_log_line(&publisher_log, "connected to", 1, SECOND * 15)?;

    // The watch link, opened on "another machine".
    let issued = Issued::read(state.path())?;
    let mut chromium = remote_browser(Some(&issued.spki_sha256))?;
    let page = link.replace("name=screen", &format!("name={NAME}"));
    let opened = Instant::now();
    chromium.navigate(&page)?;
    let stats = chromium.wait_for_stats(SECOND * 20, |s| {
        s.state == "live" && s.counters.rendered >= 120
    })?;
    ensure!(
        stats
            .as_ref()
            .is_some_and(|s| s.state == "live" && s.counters.rendered >= 120),
        "the watch link did not play 120 frames within 20 s: {}",
        describe(&stats)
    );
    let played_in = opened.elapsed();
    let origin = chromium.evaluate("`${location.origin} ${window.isSecureContext}`")?;
    let expected = format!("https://{HOST}:{} true", ports.https);
    ensure!(
        origin.as_str() == Some(expected.as_str()),
        "the page played from {origin}, not the secure remote origin {expected}"
    );

    // The refused ones still run, still refused, and printed no token.
    stack.check_alive()?;
    for log in [&anonymous_log, &watcher_log, &publisher_log] {
        let text = std::fs::read_to_string(log)?;
        for secret in [&publish_token, &watch_token] {
            ensure!(
                !text.contains(secret.as_str()),
                "a token is printed in {}",
                log.display()
            );
        }
    }
    for log in [&anonymous_log, &watcher_log] {
        let text = std::fs::read_to_string(log)?;
        ensure!(
            !text.contains("connected to"),
            "a publisher without a publish token says it connected: {}",
            log.display()
        );
        // Said once, then retried quietly.
        ensure!(
            text.matches(REFUSED).count() == 1,
            "the refusal is not said exactly once: {}",
            log.display()
        );
    }

    // The relay's own routes want a token.
    let fetch = format!("/fetch/anon/{NAME}/catalog.json");
    for path in ["/announced", fetch.as_str()] {
        let response = http::get("127.0.0.1", ports.quic, path)?;
        ensure!(
            matches!(response.status, 401 | 403),
            "GET {path} without a token: {response:?}"
        );
    }
    let listed = http::get(
        "127.0.0.1",
        ports.quic,
        &format!("/announced?jwt={publish_token}"),
    )?;
    ensure!(
        listed.status == 200 && listed.body.contains(NAME),
        "GET /announced with the publish token: {listed:?}"
    );
    let fetched = http::get(
        "127.0.0.1",
        ports.quic,
        &format!("{fetch}?jwt={watch_token}"),
    )?;
    ensure!(
        fetched.status == 200,
        "GET {fetch} with the watch token (the route exists): status {}",
        fetched.status
    );

    let stats = stats.context("no stats")?;
    println!(
        "  refused within {:.1} s ({refusal:?}; with a watch token: {watcher_refusal:?}); the watch \
         link played {} frames {:.1} s after opening, latency p50 {:?} ms",
        refused_in.as_secs_f64(),
        stats.counters.rendered,
        played_in.as_secs_f64(),
        stats.latency_ms.p50,
    );
    Ok(())
}

/// The page opened over plain http from another machine says what is wrong in a sentence and
/// links to the https page.
pub fn plain_http_from_another_machine_links_to_https() -> anyhow::Result<()> {
    let state = TempDir::new("xtask-relay-insecure")?;
    let ports = Ports::free()?;
    let _stack = public_relay(ports, state.path())?;
    let mut chromium = remote_browser(None)?;
    chromium.navigate(&format!("http://{HOST}:{}/?name=x", ports.http))?;
    let deadline = Instant::now() + SECOND * 10;
    let shown = loop {
        // Null until the page's document is there.
        let shown = chromium.evaluate(
            "(() => { const state = document.getElementById('state'); \
             return state && { state: state.dataset.state, text: state.textContent, \
             secure: window.isSecureContext, \
             link: document.getElementById('secure-link')?.href ?? null }; })()",
        )?;
        if shown["state"] == "error" || Instant::now() > deadline {
            break shown;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    ensure!(
        shown["state"] == "error" && shown["secure"] == false,
        "an insecure page did not show an error within 10 s: {shown}"
    );
    let text = shown["text"].as_str().unwrap_or_default();
    ensure!(
        text.contains("Not a secure page"),
        "the error does not say the page is not secure: {text:?}"
    );
    for technical in [
        "ReferenceError",
        "JsValue",
        "wasm",
        "\n    at ",
        "undefined",
    ] {
        ensure!(
            !text.contains(technical),
            "the error shows {technical:?}: {text:?}"
        );
    }
    let expected = format!("https://{HOST}:{}/?name=x", ports.https);
    ensure!(
        shown["link"].as_str() == Some(expected.as_str()),
        "the link to the secure page is {}, not {expected}",
        shown["link"]
    );
    println!("  shown: {text:?}");
    Ok(())
}

/// The default relay's sockets, read from the kernel, are all on loopback; a public relay's are
/// not (the check can fail).
pub fn the_default_relay_listens_on_loopback_only() -> anyhow::Result<()> {
    let local = Stack::start(None, Output::Logs)?;
    let log = local.relay_log().context("no relay log")?;
    // Printed once every listener is up.
    wait_for_log_line(log, "relay: watch at", 1, SECOND * 10)?;
    let sockets = sockets::of_process(local.relay_pid())?;
    sockets::check_loopback_only(&sockets).context("the default relay")?;

    let state = TempDir::new("xtask-relay-open")?;
    let public = public_relay(Ports::free()?, state.path())?;
    watch_link(public.relay_log().context("no relay log")?)?;
    let open = sockets::of_process(public.relay_pid())?;
    ensure!(
        sockets::check_loopback_only(&open).is_err(),
        "the loopback check passes a public relay too: {open:?}"
    );
    let addresses: Vec<String> = sockets
        .iter()
        .map(|s| format!("{:?} {}", s.protocol, s.local))
        .collect();
    println!("  default relay: {}", addresses.join(", "));
    Ok(())
}

/// Two relays, each with its own moq-relay configuration: a broadcast published to the root
/// plays from the leaf, which dials the root as a cluster peer.
pub fn a_two_relay_cluster_plays_from_the_leaf() -> anyhow::Result<()> {
    const NAME: &str = "clustered";
    let dir = TempDir::new("xtask-cluster")?;
    let [root_ports, leaf_ports] = Ports::free_sets::<2>()?;
    let root_config = dir.path().join("root.toml");
    let leaf_config = dir.path().join("leaf.toml");
    std::fs::write(&root_config, cluster_config(root_ports.quic, None))?;
    std::fs::write(
        &leaf_config,
        cluster_config(leaf_ports.quic, Some(root_ports.quic)),
    )?;
    // Each keeps its generated certificate in its own state directory.
    let relay = |config: &Path, ports, state: &str| {
        Relay::new(Mode::Config(config.to_path_buf()), ports).state_dir(&dir.path().join(state))
    };
    let mut root = Stack::with_relay(relay(&root_config, root_ports, "root"), Output::Logs)?;
    let mut leaf = Stack::with_relay(relay(&leaf_config, leaf_ports, "leaf"), Output::Logs)?;
    let page = http::get("127.0.0.1", leaf_ports.http, "/viewer.json")?;
    ensure!(
        page.body
            .contains(&format!("\"relayPort\":{}", leaf_ports.quic)),
        "the leaf's page does not dial the leaf: {page:?}"
    );
    root.publish(NAME, &["--source", "test"])?;

    let mut chromium = Chromium::launch()?;
    let opened = Instant::now();
    chromium.navigate(&format!(
        "http://127.0.0.1:{}/?name={NAME}",
        leaf_ports.http
    ))?;
    let stats = chromium.wait_for_stats(SECOND * 25, |s| {
        s.state == "live" && s.counters.rendered >= 120
    })?;
    root.check_alive()?;
    leaf.check_alive()?;
    if !stats
        .as_ref()
        .is_some_and(|s| s.state == "live" && s.counters.rendered >= 120)
    {
        let announced = http::get("127.0.0.1", leaf_ports.quic, "/announced");
        bail!(
            "the leaf did not play the root's broadcast (120 frames) within 25 s: {}; the leaf \
             announces {announced:?}",
            describe(&stats)
        );
    }
    println!(
        "  120 frames through the cluster {:.1} s after opening the leaf's page",
        opened.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A 40 s certificate is renewed while a viewer plays (it keeps playing); the relay restarted on
/// the same ports and state serves the renewed one, and the viewer (dialled with the old hash
/// first) and the publisher come back by themselves.
pub fn a_renewed_certificate_is_followed_across_a_restart() -> anyhow::Result<()> {
    const NAME: &str = "renewed";
    /// How long a restarted relay's viewer may take to render 60 new frames.
    const BACK_WITHIN: Duration = Duration::from_secs(20);
    let state = TempDir::new("xtask-relay-renewal")?;
    let ports = Ports::free()?;
    let setup = Relay::new(Mode::Local, ports)
        .state_dir(state.path())
        .cert_lifetime_secs(40);
    let mut stack = Stack::with_relay(setup, Output::Logs)?;
    let started = Instant::now();
    let first = Issued::read(state.path())?;
    ensure!(
        page_fingerprint(ports)? == first.fingerprint,
        "the page's fingerprint is not the certificate's"
    );
    let publisher = stack.publish(NAME, &["--source", "test"])?;
    let mut chromium = Chromium::launch()?;
    // The page reads /viewer.json and pins by its own origin's fingerprint.
    chromium.navigate(&stack.page_url(NAME))?;
    let playing = chromium.wait_for_stats(SECOND * 20, |s| {
        s.state == "live" && s.counters.rendered >= 60
    })?;
    ensure!(
        playing.as_ref().is_some_and(|s| s.counters.rendered >= 60),
        "the viewer did not play: {}",
        describe(&playing)
    );

    // The renewal, while playing.
    let renewed = loop {
        let now = page_fingerprint(ports)?;
        if now != first.fingerprint {
            break now;
        }
        ensure!(
            started.elapsed() < SECOND * 45,
            "the certificate was not renewed within 45 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let renewed_after = started.elapsed();
    let at_renewal = rendered(&mut chromium)?;
    std::thread::sleep(SECOND * 3);
    let after = chromium.viewer_stats()?.context("no viewer")?;
    ensure!(
        after.state == "live" && after.counters.rendered >= at_renewal + 60,
        "the viewer stopped playing at the renewal ({at_renewal} frames then): {}",
        json(&after)
    );
    let stored = Issued::read(state.path())?;
    ensure!(
        stored.fingerprint == renewed && stored.spki_sha256 == first.spki_sha256,
        "the stored certificate ({stored:?}) is not the renewed one with the same key"
    );
    // What a publisher dialling http://…/anon fetches.
    let relay_says = http::get("localhost", ports.quic, "/certificate.sha256")?;
    ensure!(
        relay_says.body.trim() == renewed,
        "the relay's own /certificate.sha256 still says {:?} after the renewal to {renewed}",
        relay_says.body
    );

    // Restarted on the same ports and state: it serves the renewed certificate.
    let before = rendered(&mut chromium)?;
    let stopping = Instant::now();
    stack.restart_relay()?;
    let up = Instant::now();
    ensure!(
        page_fingerprint(ports)? == renewed,
        "the restarted relay does not serve the renewed certificate"
    );
    // Measured past the bound, to say how long it did take.
    let mut left_live = None;
    let back = wait_until_back(&mut chromium, before, up, |s| {
        if s.state != "live" {
            left_live.get_or_insert_with(|| (stopping.elapsed(), json(&(&s.state, &s.error))));
        }
    })?;
    let left = left_live.map_or_else(
        || "never left \"live\"".into(),
        |(at, shown)| format!("showed {shown} {:.1} s after the stop", at.as_secs_f64()),
    );
    let outage = format!(
        "the relay took {:.1} s to stop and start; the viewer {left}, {} after the relay was back",
        (up - stopping).as_secs_f64(),
        back.times(),
    );
    ensure!(
        back.sixty_new.is_some_and(|at| at <= BACK_WITHIN),
        "not back within {BACK_WITHIN:?}: {outage}: {}",
        describe(&back.last)
    );
    let publisher_log = stack.log_of(publisher).context("no log")?;
    // The publisher says so once its session has lasted a moment.
    wait_for_log_line(publisher_log, "connected to", 2, SECOND * 5)
        .context("the publisher did not say it reconnected")?;
    stack.check_alive()?;
    println!(
        "  renewed {:.1} s after start, playing on; {outage}",
        renewed_after.as_secs_f64(),
    );
    Ok(())
}

const SECOND: Duration = Duration::from_secs(1);

/// `relay --public --host HOST` on `ports`, keeping its state in `state`.
fn public_relay(ports: Ports, state: &Path) -> anyhow::Result<Stack> {
    let setup = Relay::new(
        Mode::Public {
            host: HOST.to_string(),
        },
        ports,
    )
    .state_dir(state);
    Stack::with_relay(setup, Output::Logs)
}

/// The watch link a public relay printed (in its log at `path`).
fn watch_link(path: &Path) -> anyhow::Result<String> {
    let line = wait_for_log_line(path, "relay: watch link", 1, SECOND * 10)?;
    let link = line
        .split_whitespace()
        .find(|word| word.starts_with("https://"))
        .with_context(|| format!("no link in {line:?}"))?;
    Ok(link.to_string())
}

/// Chromium on "another machine": [`HOST`] resolves to this one's loopback, and the relay's
/// self-signed certificate with key hash `spki` (when given) is accepted for https pages.
fn remote_browser(spki: Option<&str>) -> anyhow::Result<Chromium> {
    let mut args = vec![format!("--host-resolver-rules=MAP {HOST} 127.0.0.1")];
    args.extend(spki.map(|spki| format!("--ignore-certificate-errors-spki-list={spki}")));
    Chromium::launch_with(Autoplay::Allowed, &args)
}

/// A moq-relay configuration on loopback port `quic` with its own renewed self-signed
/// certificate, anonymous, dialling the relay on port `peer` as a cluster peer when given.
///
/// 127.0.0.1, not ::1: the publisher and the leaf (moq-tokio) dial `localhost` as the system
/// resolves it, 127.0.0.1 here; the browser opens the leaf's page at 127.0.0.1 too, so that
/// it dials QUIC there (Chromium would dial `localhost` as ::1).
fn cluster_config(quic: u16, peer: Option<u16>) -> String {
    let cluster = peer
        .map(|peer| format!("[cluster]\nconnect = [\"http://localhost:{peer}/\"]\n"))
        .unwrap_or_default();
    format!(
        "[listen]\nbind = \"127.0.0.1:{quic}\"\ntls.generate = [\"localhost\"]\n\n\
         [web]\nws = false\n\n[web.http]\nlisten = \"127.0.0.1:{quic}\"\n\n\
         [auth]\npublic = \"**\"\n\n{cluster}"
    )
}

/// The fingerprint the page server on `ports` reports.
fn page_fingerprint(ports: Ports) -> anyhow::Result<String> {
    let response = http::get("localhost", ports.http, "/certificate.sha256")?;
    ensure!(response.status == 200, "/certificate.sha256: {response:?}");
    Ok(response.body.trim().to_string())
}

fn rendered(chromium: &mut Chromium) -> anyhow::Result<u64> {
    let stats: Report = chromium.viewer_stats()?.context("no viewer")?;
    Ok(stats.counters.rendered)
}

/// What the relay says about its self-signed certificate in `STATE/tls/cert.toml`.
#[derive(Debug)]
struct Issued {
    /// Hex SHA-256 of the certificate.
    fingerprint: String,
    /// Base64 SHA-256 of its public key.
    spki_sha256: String,
}

impl Issued {
    fn read(state: &Path) -> anyhow::Result<Self> {
        let path = state.join("tls").join("cert.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let field = |key: &str| {
            toml_string(&text, key).with_context(|| format!("no {key} in {}", path.display()))
        };
        Ok(Self {
            fingerprint: field("fingerprint")?,
            spki_sha256: field("spki_sha256")?,
        })
    }
}

/// The value of a top-level `key = "string"` line of a TOML text.
fn toml_string(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then_some(())?;
        let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
        Some(value.to_string())
    })
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Whether only the owner may read or write the file at `path`.
fn owner_only(path: &Path) -> anyhow::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_the_relay_writes_in_cert_toml() {
        let text = "not_before = 1700000000\nnot_after = 1701209600\nnames = [\"localhost\", \
                    \"desk.test\"]\nfingerprint = \"ab12\"\nspki_sha256 = \"q83vEjRW/+A=\"\n";
        assert_eq!(toml_string(text, "fingerprint").as_deref(), Some("ab12"));
        assert_eq!(
            toml_string(text, "spki_sha256").as_deref(),
            Some("q83vEjRW/+A=")
        );
        assert_eq!(toml_string(text, "names"), None, "not a string");
        assert_eq!(toml_string(text, "finger"), None);
    }
}
