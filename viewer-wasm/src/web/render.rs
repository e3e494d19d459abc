//! Painting: a decoded frame is drawn the moment it comes out of the decoder when nothing was
//! drawn yet since the last animation frame (it then reaches the very next composite instead of
//! waiting a whole animation frame for its turn); a second frame within the same animation frame
//! waits as the newest and is drawn at the next one. Every frame is closed once drawn. The
//! animation-frame loop also notices when video has stopped arriving. The canvas takes the
//! video's size; the page's CSS scales it to fit.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, VideoFrame, Window};

use super::describe;
use super::shared::Shared;
use crate::sync_probe::{FLASH_CENTRE_INSET, mean_luma};

type Callback = Rc<RefCell<Option<Closure<dyn FnMut(f64)>>>>;

/// A running paint loop; [`RenderLoop::stop`] ends it.
pub struct RenderLoop {
    window: Window,
    callback: Callback,
    request: Rc<Cell<i32>>,
}

impl RenderLoop {
    pub fn start(
        window: Window,
        shared: Rc<Shared>,
        canvas: HtmlCanvasElement,
    ) -> Result<Self, String> {
        let probe = shared.probe.is_some();
        shared.set_painter(Painter {
            context: context(&canvas, probe)?,
            canvas,
            probe,
        });
        let callback: Callback = Rc::default();
        let request = Rc::new(Cell::new(0));
        let tick = {
            let (window, callback, request) = (window.clone(), callback.clone(), request.clone());
            // The argument is the frame's start time on the `performance.now()` clock.
            Closure::<dyn FnMut(f64)>::new(move |now_ms: f64| {
                shared.telemetry.borrow_mut().check_stall(now_ms);
                shared.animation_frame();
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

/// A 2D context without alpha, asking for the low-latency (desynchronized) path; a probing
/// viewer reads pixels back every frame, which a CPU-side canvas does cheaply.
fn context(canvas: &HtmlCanvasElement, probe: bool) -> Result<CanvasRenderingContext2d, String> {
    let options = Object::new();
    let _ = Reflect::set(&options, &"alpha".into(), &false.into());
    let _ = Reflect::set(&options, &"desynchronized".into(), &true.into());
    let _ = Reflect::set(&options, &"willReadFrequently".into(), &probe.into());
    canvas
        .get_context_with_context_options("2d", &options)
        .map_err(describe)?
        .ok_or("the canvas has no 2D context")?
        .dyn_into()
        .map_err(|_| "the canvas has no 2D context".into())
}

/// Where frames are drawn.
pub struct Painter {
    canvas: HtmlCanvasElement,
    context: CanvasRenderingContext2d,
    /// Read the sync probe's square after each frame.
    probe: bool,
}

impl Painter {
    /// Draw `frame`, close it, and count it.
    pub fn paint(&self, shared: &Shared, frame: VideoFrame) {
        let (width, height) = (frame.display_width(), frame.display_height());
        if self.canvas.width() != width || self.canvas.height() != height {
            self.canvas.set_width(width);
            self.canvas.set_height(height);
        }
        let drawn = self.context.draw_image_with_video_frame_and_dw_and_dh(
            &frame,
            0.0,
            0.0,
            f64::from(width),
            f64::from(height),
        );
        let now = shared.now_unix_ms();
        let timestamp_us = frame.timestamp();
        frame.close();
        if self.probe && drawn.is_ok() {
            self.read_flash(shared, (width, height), now);
        }
        let mut telemetry = shared.telemetry.borrow_mut();
        match drawn {
            Ok(()) => telemetry.painted(timestamp_us, now, (width, height)),
            Err(_) => telemetry.counters.dropped += 1,
        }
    }

    /// Note whether the sync probe's flash square is lit in the frame just drawn.
    fn read_flash(&self, shared: &Shared, (width, height): (u32, u32), painted_unix_ms: f64) {
        let inset = FLASH_CENTRE_INSET as i32;
        let (x, y) = (width as i32 - inset, height as i32 - inset);
        if x < 2 || y < 2 {
            return;
        }
        if let Ok(pixels) = self.context.get_image_data(x - 2, y - 2, 4, 4)
            && let Some(probe) = &shared.probe
        {
            let luma = mean_luma(&pixels.data());
            probe.borrow_mut().painted(luma, painted_unix_ms);
        }
    }
}
