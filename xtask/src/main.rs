//! `cargo xtask …`: the workspace's build, demo, test and benchmark commands, written in Rust
//! so they run the same on every machine with nothing but cargo installed.

mod build_web;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Workspace tasks: build the web viewer, run the demo, the tests and the benchmark")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the viewer (wasm32 + wasm-bindgen) into target/web/.
    BuildWeb {
        /// Build without size optimisation (faster, much larger).
        #[arg(long)]
        dev: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::BuildWeb { dev } => {
            let out = build_web::build_web(!dev)?;
            println!("viewer built into {}", out.display());
            Ok(())
        }
    }
}
