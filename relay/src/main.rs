//! `relay`: run the MoQ relay and the viewer page server.

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(
    about = "MoQ relay for live desktop streams, serving the browser viewer too",
    after_help = "Examples:\n  \
        relay                          # development: self-signed cert, anonymous access\n  \
        relay --port 4443 --http-port 8080\n  \
        relay --config relay.toml      # production: a moq-relay TOML config (TLS, JWT auth, cluster)\n\n\
        Then publish with `publisher --name screen` and open http://localhost:8080/?name=screen"
)]
struct Cli {
    /// A moq-relay TOML configuration file. Without one the relay runs in development mode.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// QUIC/WebTransport port (development mode); the certificate fingerprint is served over TCP on
    /// the same port.
    #[arg(long, default_value_t = 4443)]
    port: u16,
    /// Port of the plain-HTTP server for the viewer page.
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    /// Directory holding the page (defaults to the checkout's `www/`).
    #[arg(long, value_name = "DIR")]
    www: Option<std::path::PathBuf>,
    /// Directory holding the built viewer (defaults to the checkout's `target/web/`).
    #[arg(long, value_name = "DIR")]
    pkg: Option<std::path::PathBuf>,
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

    let (relay, dev) = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let config =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            (config, false)
        }
        None => (relay::dev::config(cli.port)?, true),
    };
    let mut dirs = relay::site::Dirs::from_checkout();
    if let Some(www) = cli.www {
        dirs.www = www;
    }
    if let Some(pkg) = cli.pkg {
        dirs.pkg = pkg;
    }
    if !dirs.pkg.join("viewer.js").is_file() {
        eprintln!(
            "warning: no built viewer in {} — run `cargo xtask build-web` first",
            dirs.pkg.display()
        );
    }

    let running = relay::Running::start(relay::Options {
        relay,
        http_port: cli.http_port,
        dirs,
    })
    .await?;
    let mode = if dev {
        "development mode (anonymous, self-signed)"
    } else {
        "configured"
    };
    println!("relay: {mode}, QUIC on udp/{}", running.quic.port());
    println!(
        "relay: watch at http://localhost:{}/?name=screen  (publish with: publisher --name screen --url http://localhost:{}/anon)",
        running.http.port(),
        running.quic.port()
    );
    tokio::select! {
        res = running.wait() => res,
        _ = tokio::signal::ctrl_c() => {
            println!("relay: stopping");
            Ok(())
        }
    }
}
