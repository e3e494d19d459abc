//! `cargo xtask wine`: the Windows publisher's integration test under Wine
//! (`publisher/tests/wine.rs`), with what it needs prepared and cached under the target
//! directory (`$CARGO_TARGET_DIR/wine`, outside the checkout in CI):
//! - `publisher.exe`, cross-built for `x86_64-pc-windows-gnu` with Debian's mingw-w64;
//! - beside it a stand-in `bcryptprimitives.dll` (Wine 8 lacks it; see `xtask/wine/`);
//! - a Windows `ffmpeg.exe` from a registry package: the win_amd64 wheel of imageio-ffmpeg on
//!   PyPI, fetched once with `pip download` and unpacked with Python's `zipfile`;
//! - a Wine prefix, made once.
//!
//! The same ffmpeg.exe, run under Wine by the native publisher, is the ffmpeg that writes HEVC
//! into FLV for the HEVC browser test ([`hevc_capable_ffmpeg`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::workspace;

/// The Windows target the publisher is cross-built for.
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";
/// The PyPI package whose win_amd64 wheel carries ffmpeg.exe (0.8.1: ffmpeg 9.0.2).
const FFMPEG_WHEEL: &str = "imageio-ffmpeg==0.8.1";
const SHIM_SOURCE: &str = include_str!("../wine/bcryptprimitives.c");

/// Prepare, then run the Wine test.
pub fn run() -> anyhow::Result<()> {
    let setup = prepare()?;
    let mut command = workspace::cargo_command();
    command
        .args(["test", "-p", "publisher", "--test", "wine", "--"])
        .args(["--ignored", "--nocapture"])
        .env("WINE_PUBLISHER", &setup.publisher)
        .env("WINE_FFMPEG", &setup.ffmpeg)
        .env("WINEPREFIX", &setup.prefix);
    workspace::run(&mut command)
}

struct Setup {
    publisher: PathBuf,
    ffmpeg: PathBuf,
    prefix: PathBuf,
}

fn prepare() -> anyhow::Result<Setup> {
    let cache = workspace::target_dir().join("wine");
    let bin = cache.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;

    workspace::cargo(&[
        "build",
        "--release",
        "--target",
        WINDOWS_TARGET,
        "-p",
        "publisher",
    ])?;
    let built = workspace::target_dir()
        .join(WINDOWS_TARGET)
        .join("release")
        .join("publisher.exe");
    let publisher = bin.join("publisher.exe");
    std::fs::copy(&built, &publisher)
        .with_context(|| format!("copying {} to {}", built.display(), publisher.display()))?;
    build_shim(&bin)?;

    let (ffmpeg, prefix) = windows_ffmpeg_and_prefix(&cache)?;
    Ok(Setup {
        publisher,
        ffmpeg,
        prefix,
    })
}

/// The Windows `ffmpeg.exe` (fetched once) and a Wine prefix to run it in (made once), cached
/// under `cache`.
fn windows_ffmpeg_and_prefix(cache: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let ffmpeg = windows_ffmpeg(&cache.join("ffmpeg"))?;
    let prefix = cache.join("prefix");
    if !prefix.join("system.reg").exists() {
        println!("wine: making the Wine prefix {}", prefix.display());
        workspace::run(
            Command::new("wineboot")
                .arg("--init")
                .env("WINEPREFIX", &prefix)
                .env("WINEDEBUG", "-all")
                // No Mono or Gecko install prompts: the test needs neither.
                .env("WINEDLLOVERRIDES", "mscoree,mshtml="),
        )
        .context("wineboot (Debian packages `wine` and `wine64`; `bash .ci/run` installs them)")?;
    }
    Ok((ffmpeg, prefix))
}

/// A script in `dir` that runs the Windows ffmpeg 9.0 under Wine with the arguments it is
/// given: an ffmpeg for the native publisher (`--ffmpeg`) that writes HEVC into (enhanced) FLV,
/// which Debian's ffmpeg 5.1 cannot. Its prefix is returned too, to end what runs in it
/// (`wineserver -k`).
pub fn hevc_capable_ffmpeg(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (ffmpeg, prefix) = windows_ffmpeg_and_prefix(&workspace::target_dir().join("wine"))?;
    let script = dir.join("ffmpeg");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nWINEPREFIX='{}' WINEDEBUG=-all exec wine '{}' \"$@\"\n",
            prefix.display(),
            ffmpeg.display()
        ),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok((script, prefix))
}

/// Compile the stand-in `bcryptprimitives.dll` into `bin` (again when its source changed).
fn build_shim(bin: &Path) -> anyhow::Result<()> {
    let source = bin.join("bcryptprimitives.c");
    let dll = bin.join("bcryptprimitives.dll");
    let same = std::fs::read_to_string(&source).is_ok_and(|old| old == SHIM_SOURCE);
    if same && dll.exists() {
        return Ok(());
    }
    std::fs::write(&source, SHIM_SOURCE)?;
    workspace::run(
        Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-o"])
            .arg(&dll)
            .arg(&source)
            .arg("-ladvapi32"),
    )
    .context("building the bcryptprimitives.dll stand-in (Debian package `gcc-mingw-w64-x86-64`)")
}

/// `ffmpeg.exe` from the imageio-ffmpeg win_amd64 wheel, fetched into `dir` once.
fn windows_ffmpeg(dir: &Path) -> anyhow::Result<PathBuf> {
    let binaries = dir.join("unpacked").join("imageio_ffmpeg").join("binaries");
    if let Some(exe) = find_exe(&binaries)? {
        return Ok(exe);
    }
    std::fs::create_dir_all(dir)?;
    println!("wine: fetching {FFMPEG_WHEEL} (win_amd64) from PyPI");
    workspace::run(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                FFMPEG_WHEEL,
                "--platform",
                "win_amd64",
            ])
            .args(["--only-binary=:all:", "--no-deps", "--quiet", "-d"])
            .arg(dir),
    )
    .context("pip download (Debian package `python3-pip`)")?;
    let wheel = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .context("pip downloaded no wheel")?;
    workspace::run(
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(dir.join("unpacked")),
    )?;
    match find_exe(&binaries)? {
        Some(exe) => Ok(exe),
        None => bail!("{} holds no ffmpeg .exe", wheel.display()),
    }
}

fn find_exe(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("ffmpeg") && name.ends_with(".exe") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}
