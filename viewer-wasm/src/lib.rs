//! The browser viewer: subscribes to a hang broadcast over moq-lite (WebTransport), decodes
//! its H.264 video with WebCodecs and paints the newest frame on every animation frame.
//!
//! The playout core is plain Rust that builds and tests on any host:
//! [`catalog`], [`snapshot`] and [`selection`] (what to play), [`container`] and [`clock`]
//! (reading frames and their capture time), [`player`] (what to decode, when, and what to
//! paint: the player core, with a load simulator in its tests),
//! [`stats`], [`telemetry`] and [`state`] (what `stats()` reports), [`availability`],
//! [`relay_url`] and [`reconnect`] (whether, where and when to dial), [`qmux`] (MoQ over a
//! WebSocket where the browser has no WebTransport). The browser glue
//! (WebTransport, WebCodecs, canvas, the `Viewer` class exported to JavaScript) is compiled for
//! wasm32 only.

pub mod audio;
pub mod availability;
pub mod catalog;
pub mod clock;
pub mod container;
pub mod error_text;
mod hex;
pub mod player;
pub mod qmux;
pub mod reconnect;
pub mod relay_url;
pub mod selection;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod sync_probe;
pub mod telemetry;
pub mod transport;

#[cfg(target_arch = "wasm32")]
mod web;
