//! `relay`: run the MoQ relay and the viewer page server, or mint a token.

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use relay::tokens::Role;
use relay::{Access, access};

mod cli;

#[derive(Parser)]
#[command(
    about = "MoQ relay for live desktop streams, serving the browser viewer too",
    after_help = "Examples:\n  \
        relay                          # this machine only: anonymous, loopback, for the demo\n  \
        relay --public                 # the LAN: every interface, tokens required, HTTPS page\n  \
        relay --public --host desk.lan # ... with the name other machines use for this one\n  \
        relay --config relay.toml      # production: a moq-relay TOML config (TLS, auth, cluster)\n  \
        relay token --role watch --valid-for 7d   # another watch token for `relay --public`\n\n\
        Browsers give WebTransport only to secure pages: on this machine http://localhost is\n\
        one, from another machine only the https:// page is."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: cli::Run,
}

#[derive(Subcommand)]
enum Command {
    /// Mint a token signed with the relay's key and print it (for `relay --public`, or for a
    /// configuration run with `--auth-key`).
    Token(cli::Token),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,moq_relay=warn,moq_net=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token(token)) => mint(token),
        None => run(cli.run).await,
    }
}

fn mint(token: cli::Token) -> anyhow::Result<()> {
    let key_file = token
        .key
        .unwrap_or_else(|| cli::state_dir(None).join("relay.jwk"));
    anyhow::ensure!(
        key_file.is_file(),
        "no signing key at {}: run `relay --public` once (it makes one), or pass --key FILE",
        key_file.display()
    );
    let key = relay::tokens::signing_key(&key_file)?;
    println!(
        "{}",
        relay::tokens::mint(&key, token.role, token.valid_for.0)?
    );
    Ok(())
}

async fn run(args: cli::Run) -> anyhow::Result<()> {
    let access = match (&args.config, args.public) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let config =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            Access::Configured(Box::new(config))
        }
        (None, true) => Access::Public {
            hosts: if args.host.is_empty() {
                vec![cli::hostname()]
            } else {
                args.host.clone()
            },
        },
        (None, false) => Access::Local,
    };
    let state_dir = match &access {
        Access::Local => args.state_dir.clone(),
        _ => Some(cli::state_dir(args.state_dir.clone())),
    };
    let mut dirs = relay::site::Dirs::from_checkout();
    if let Some(www) = args.www {
        dirs.www = www;
    }
    if let Some(pkg) = args.pkg {
        dirs.pkg = pkg;
    }
    if !dirs.pkg.join("viewer.js").is_file() {
        eprintln!(
            "warning: no built viewer in {} — run `cargo xtask build-web` first",
            dirs.pkg.display()
        );
    }

    let running = relay::Running::start(relay::Options {
        access: access.clone(),
        quic_port: args.port,
        http_port: args.http_port,
        https_port: Some(args.https_port),
        state_dir,
        cert_lifetime: Duration::from_secs(args.cert_lifetime_secs),
        auth_key: args.auth_key.clone(),
        limits: relay::page_server::Limits::default(),
        dirs,
        congestion_control: args.congestion_control,
    })
    .await?;
    announce(&access, &running, args.watch_link_valid_for.0)?;
    let mut running = running;
    tokio::select! {
        res = running.wait() => res,
        _ = stop_requested() => {
            println!("relay: stopping");
            running.stop().await;
            Ok(())
        }
    }
}

/// Ctrl-C, or SIGTERM (a service manager stopping the relay): either way the relay stops cleanly.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Say where to publish and watch.
fn announce(
    access: &Access,
    running: &relay::Running,
    watch_valid_for: Option<Duration>,
) -> anyhow::Result<()> {
    let quic = running.quic.port();
    let http = running.http.port();
    let https = running.https.map(|addr| addr.port());
    let path = access::PATH;
    if let Some(issued) = running.certificate() {
        println!(
            "relay: self-signed certificate sha256 {} (renewed before it expires; kept in {})",
            issued.fingerprint,
            running.state_dir.display()
        );
    }
    match access {
        Access::Local => {
            println!("relay: this machine only (loopback), anonymous; QUIC on udp/{quic}");
            println!("relay: watch at http://localhost:{http}/?name=screen");
            println!(
                "relay: publish with: publisher --name screen --url http://localhost:{quic}/{path}"
            );
            println!("relay: to watch from other machines, run `relay --public`");
        }
        Access::Public { hosts } => {
            let host = &hosts[0];
            let key = running.auth_key.as_ref().expect("public access has a key");
            let token_file = running.state_dir.join("publish.jwt");
            if !token_file.is_file() {
                let key = relay::tokens::signing_key(key)?;
                let token = relay::tokens::mint(&key, Role::Publish, None)?;
                relay::certificate::write_replacing(&token_file, token.as_bytes(), true)?;
            }
            let key = relay::tokens::signing_key(key)?;
            let watch = relay::tokens::mint(&key, Role::Watch, watch_valid_for)?;
            println!(
                "relay: public on every interface; every session needs a token; QUIC on udp/{quic}"
            );
            println!(
                "relay: publish with: publisher --name screen --url http://{host}:{quic}/{path} --token-file {}",
                token_file.display()
            );
            if let Some(https) = https {
                let valid = match watch_valid_for {
                    Some(valid) => format!("valid {}", cli::describe(valid)),
                    None => "never expires".into(),
                };
                println!(
                    "relay: watch link (watch only, {valid}): https://{host}:{https}/?name=screen#jwt={watch}"
                );
                println!(
                    "relay: browsers warn once about the self-signed certificate; more links: relay token --role watch"
                );
            }
        }
        Access::Configured(_) => {
            println!("relay: configured; QUIC on udp/{quic}");
            match https {
                Some(https) => println!("relay: page at https://HOST:{https}/?name=screen"),
                None => println!("relay: page at http://HOST:{http}/?name=screen"),
            }
        }
    }
    Ok(())
}
