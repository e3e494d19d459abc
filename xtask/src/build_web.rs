//! `cargo xtask build-web`: builds the viewer for the browser with nothing but cargo — the
//! wasm32 build of `viewer-wasm`, then wasm-bindgen (as a library, the exact version the
//! viewer links) — into `target/web/`, and reports what a browser downloads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use wasm_bindgen_cli_support::Bindgen;

use crate::workspace;

const TARGET: &str = "wasm32-unknown-unknown";
/// The name the page imports: `/pkg/viewer.js` and `/pkg/viewer_bg.wasm`.
const OUT_NAME: &str = "viewer";

/// Build the viewer into `<workspace>/target/web/` and print its sizes. `release` builds
/// the size-optimised `wasm-release` profile; otherwise the dev profile with debug info.
pub fn build_web(release: bool) -> anyhow::Result<PathBuf> {
    let root = workspace::root();
    ensure_target()?;

    let profile = if release { "wasm-release" } else { "dev" };
    let mut build = workspace::cargo_command();
    build.args([
        "build",
        "-p",
        "viewer-wasm",
        "--target",
        TARGET,
        "--profile",
        profile,
    ]);
    // An outer RUSTFLAGS replaces `.cargo/config.toml`'s, which web-transport-wasm needs.
    if let Ok(flags) = std::env::var("RUSTFLAGS")
        && !flags.contains("web_sys_unstable_apis")
    {
        build.env("RUSTFLAGS", format!("{flags} --cfg=web_sys_unstable_apis"));
    }
    workspace::run(&mut build)?;

    let profile_dir = if release { "wasm-release" } else { "debug" };
    let wasm = workspace::target_dir()
        .join(TARGET)
        .join(profile_dir)
        .join("viewer_wasm.wasm");
    ensure!(wasm.exists(), "cargo built no {}", wasm.display());

    let out = root.join("target").join("web");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    Bindgen::new()
        .input_path(&wasm)
        .out_name(OUT_NAME)
        .web(true)?
        .typescript(false)
        .omit_default_module_path(false)
        .debug(!release)
        .keep_debug(!release)
        .remove_name_section(release)
        .remove_producers_section(release)
        .generate(&out)
        .context("wasm-bindgen")?;

    for size in precompress(&out)? {
        println!(
            "{:<16} {:>9} bytes raw {:>9} bytes gzip -9",
            size.name, size.raw, size.gzip
        );
    }
    Ok(out)
}

/// The download size of one built file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSize {
    pub name: String,
    pub raw: u64,
    /// Gzipped at level 9, as a static asset would be served.
    pub gzip: u64,
}

/// Raw and gzip sizes of the viewer's wasm and JS glue in `dir` (a `build_web` output): the
/// gzip one is the `.gz` beside each file, which the relay serves to browsers that accept it.
pub fn web_sizes(dir: &Path) -> anyhow::Result<Vec<WebSize>> {
    built_files()
        .map(|name| {
            let size = |name: &str| -> anyhow::Result<u64> {
                let path = dir.join(name);
                Ok(std::fs::metadata(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .len())
            };
            Ok(WebSize {
                raw: size(&name)?,
                gzip: size(&format!("{name}.gz"))?,
                name,
            })
        })
        .collect()
}

/// Write a gzip (level 9) copy beside each of the viewer's files in `dir`; their sizes.
fn precompress(dir: &Path) -> anyhow::Result<Vec<WebSize>> {
    for name in built_files() {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
        gzip.write_all(&bytes)?;
        std::fs::write(dir.join(format!("{name}.gz")), gzip.finish()?)?;
    }
    web_sizes(dir)
}

/// The files a viewer downloads: its wasm and its JS glue.
fn built_files() -> impl Iterator<Item = String> {
    [format!("{OUT_NAME}_bg.wasm"), format!("{OUT_NAME}.js")].into_iter()
}

/// Install the wasm32 target through rustup when it is missing (a fresh machine lacks it).
fn ensure_target() -> anyhow::Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match listed {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        // No rustup: the toolchain is managed some other way; let cargo report a missing target.
        _ => return Ok(()),
    };
    if installed.lines().any(|line| line.trim() == TARGET) {
        return Ok(());
    }
    workspace::run(Command::new("rustup").args(["target", "add", TARGET]))
}
