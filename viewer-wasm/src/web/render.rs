//! Painting: the animation-frame loop that tells the player a new frame began (it paints what
//! waited for it, and notices when video has stopped arriving), and the painter that shows a
//! decoded frame — through a `<video>` element fed by a generated track where the browser has
//! one ([`super::track_sink`]), else drawn into the canvas — and closes it. When to paint is
//! the player's decision (see `player::paint`). The canvas takes the video's size; the page's
//! CSS scales it to fit.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, DomRectInit, HtmlCanvasElement, VideoFrame, VideoFrameCopyToOptions,
    VideoPixelFormat, Window,
};

use super::describe;
use super::shared::Shared;
use super::track_sink::TrackSink;
use crate::sync_probe::{SyncProbe, flash_inset, mean_luma};

type Callback = Rc<RefCell<Option<Closure<dyn FnMut(f64)>>>>;

/// A running paint loop; [`RenderLoop::stop`] ends it.
pub struct RenderLoop {
    window: Window,
    callback: Callback,
    request: Rc<Cell<i32>>,
}

impl RenderLoop {
    /// Paint into `canvas`, or into a `<video>` in its place when `track_sink` and the
    /// browser has generated tracks.
    pub fn start(
        window: Window,
        shared: Rc<Shared>,
        canvas: HtmlCanvasElement,
        track_sink: bool,
    ) -> Result<Self, String> {
        let probe = shared.probe.is_some();
        let sink = if track_sink && TrackSink::available(&window) {
            Sink::Track(TrackSink::replacing(&canvas)?)
        } else {
            Sink::Canvas {
                context: context(&canvas)?,
                canvas,
            }
        };
        shared.set_painter(Painter {
            sink,
            probe,
            captured_width: Cell::new(None),
        });
        let callback: Callback = Rc::default();
        let request = Rc::new(Cell::new(0));
        let tick = {
            let (window, callback, request) = (window.clone(), callback.clone(), request.clone());
            // The argument is the frame's start time on the `performance.now()` clock.
            Closure::<dyn FnMut(f64)>::new(move |now_ms: f64| {
                shared.video(|player, _| player.animation_frame(now_ms));
                if let Some(tick) = callback.borrow().as_ref() {
                    request.set(
                        window
                            .request_animation_frame(tick.as_ref().unchecked_ref())
                            .unwrap_or(0),
                    );
                }
            })
        };
        let id = window
            .request_animation_frame(tick.as_ref().unchecked_ref())
            .map_err(describe)?;
        request.set(id);
        *callback.borrow_mut() = Some(tick);
        Ok(Self {
            window,
            callback,
            request,
        })
    }

    /// Cancel the pending animation frame, then free the callback it would have run.
    pub fn stop(&self) {
        let _ = self.window.cancel_animation_frame(self.request.get());
        self.callback.borrow_mut().take();
    }
}

/// A 2D context without alpha, asking for the low-latency (desynchronized) path.
fn context(canvas: &HtmlCanvasElement) -> Result<CanvasRenderingContext2d, String> {
    let options = Object::new();
    let _ = Reflect::set(&options, &"alpha".into(), &false.into());
    let _ = Reflect::set(&options, &"desynchronized".into(), &true.into());
    canvas
        .get_context_with_context_options("2d", &options)
        .map_err(describe)?
        .ok_or("the canvas has no 2D context")?
        .dyn_into()
        .map_err(|_| "the canvas has no 2D context".into())
}

/// Where frames are shown.
pub struct Painter {
    sink: Sink,
    /// Read the sync probe's square from each frame painted.
    probe: bool,
    /// The width of the broadcast's largest rendition, where the probe's square is placed.
    captured_width: Cell<Option<u32>>,
}

enum Sink {
    Canvas {
        canvas: HtmlCanvasElement,
        context: CanvasRenderingContext2d,
    },
    Track(TrackSink),
}

/// A frame drawn: its timestamp, when, and its size.
pub struct Painted {
    pub timestamp_us: f64,
    pub unix_ms: f64,
    pub size: (u32, u32),
}

impl Painter {
    /// The playing broadcast's largest rendition is this wide.
    pub fn set_captured_width(&self, width: Option<u32>) {
        self.captured_width.set(width);
    }

    /// Show `frame` at `now_unix_ms` and let it go; note the probe's square if asked to (with
    /// the frame's capture time, Unix ms, if known).
    pub fn paint(
        &self,
        frame: VideoFrame,
        probe: Option<(&Rc<RefCell<SyncProbe>>, Option<f64>)>,
        now_unix_ms: f64,
    ) -> Result<Painted, ()> {
        // At the frame's own size: the compositor scales it to the page for free.
        let (width, height) = (frame.display_width(), frame.display_height());
        let timestamp_us = frame.timestamp();
        if let (true, Some((probe, captured_unix_ms))) = (self.probe, probe) {
            let inset = flash_inset(frame.coded_width(), self.captured_width.get());
            let times = (captured_unix_ms, now_unix_ms);
            read_flash(probe.clone(), &frame, inset, times);
        }
        match &self.sink {
            Sink::Track(track) => track.write(&frame),
            Sink::Canvas { canvas, context } => {
                if canvas.width() != width || canvas.height() != height {
                    canvas.set_width(width);
                    canvas.set_height(height);
                }
                let drawn = context.draw_image_with_video_frame_and_dw_and_dh(
                    &frame,
                    0.0,
                    0.0,
                    f64::from(width),
                    f64::from(height),
                );
                frame.close();
                drawn.map_err(|_| ())?;
            }
        }
        Ok(Painted {
            timestamp_us,
            unix_ms: now_unix_ms,
            size: (width, height),
        })
    }

    /// Take a `<video>` sink off the page.
    pub fn remove(&self) {
        if let Sink::Track(track) = &self.sink {
            track.remove();
        }
    }
}

/// Note whether the sync probe's flash square is lit in `frame`, captured and painted at
/// `times` (Unix ms): a 4 × 4 copy from its centre, read asynchronously (the canvas is never read
/// back, which would force it onto the CPU).
fn read_flash(
    probe: Rc<RefCell<SyncProbe>>,
    frame: &VideoFrame,
    inset: f64,
    (captured_unix_ms, painted_unix_ms): (Option<f64>, f64),
) {
    let (width, height) = (
        f64::from(frame.coded_width()),
        f64::from(frame.coded_height()),
    );
    if width < inset + 2.0 || height < inset + 2.0 {
        return;
    }
    let Ok(copy) = frame.clone() else {
        return;
    };
    let rect = DomRectInit::new();
    rect.set_x(width - inset - 2.0);
    rect.set_y(height - inset - 2.0);
    rect.set_width(4.0);
    rect.set_height(4.0);
    let options = VideoFrameCopyToOptions::new();
    options.set_rect(&rect);
    // Planar YUV starts with the 4 × 4 luma bytes; packed RGB with 4 × 4 pixels.
    let rgb = matches!(
        copy.format(),
        Some(
            VideoPixelFormat::Rgba
                | VideoPixelFormat::Rgbx
                | VideoPixelFormat::Bgra
                | VideoPixelFormat::Bgrx
        )
    );
    let buffer = Uint8Array::new_with_length(64);
    let copied = copy.copy_to_with_u8_array_and_options(&buffer, &options);
    wasm_bindgen_futures::spawn_local(async move {
        let done = JsFuture::from(copied).await;
        copy.close();
        if done.is_err() {
            return;
        }
        let bytes = buffer.to_vec();
        let luma = if rgb {
            mean_luma(&bytes)
        } else {
            bytes[..16].iter().map(|&y| f64::from(y)).sum::<f64>() / 16.0
        };
        probe
            .borrow_mut()
            .painted(luma, captured_unix_ms, painted_unix_ms);
    });
}
