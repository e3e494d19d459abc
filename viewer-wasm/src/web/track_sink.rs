//! Showing frames through a `<video>` element fed by a `MediaStreamTrackGenerator` (Chromium's
//! "breakout box"): writing a decoded frame hands it to the compositor, which converts and
//! scales it off the page's thread. Drawing into a 2D canvas instead converts every frame on
//! the page's thread, which without a GPU was a third to a half of that thread's time on a 4×
//! throttled viewer. The element takes the canvas's place on the page (the canvas is hidden),
//! and a `<video>` showing a live track always shows its newest frame.

use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{
    HtmlCanvasElement, HtmlVideoElement, MediaStream, MediaStreamTrackGenerator,
    MediaStreamTrackGeneratorInit, VideoFrame, WritableStreamDefaultWriter,
};

use super::describe;

/// A `<video>` element showing what is written to its generated track.
pub struct TrackSink {
    video: HtmlVideoElement,
    writer: WritableStreamDefaultWriter,
    /// Swallows a failed write: one fails only when the track was stopped, which ends playback
    /// anyway. One closure for every frame, so a write costs no allocation.
    ignore: Closure<dyn FnMut(JsValue)>,
}

impl TrackSink {
    /// Whether this browser has `MediaStreamTrackGenerator`.
    pub fn available(window: &web_sys::Window) -> bool {
        Reflect::has(window, &"MediaStreamTrackGenerator".into()).unwrap_or(false)
    }

    /// Put a `<video>` element in `canvas`'s place (same id suffixed `-sink`, same classes)
    /// and hide the canvas.
    pub fn replacing(canvas: &HtmlCanvasElement) -> Result<Self, String> {
        let document = canvas
            .owner_document()
            .ok_or("the canvas has no document")?;
        let video: HtmlVideoElement = document
            .create_element("video")
            .map_err(describe)?
            .dyn_into()
            .map_err(|_| "not a video element")?;
        video.set_muted(true);
        video.set_autoplay(true);
        let _ = video.set_attribute("playsinline", "");
        let _ = video.set_attribute("disablepictureinpicture", "");
        video.set_id(&format!("{}-sink", canvas.id()));
        video.set_class_name(&canvas.class_name());
        let generator =
            MediaStreamTrackGenerator::new(&MediaStreamTrackGeneratorInit::new("video"))
                .map_err(describe)?;
        let stream = MediaStream::new_with_tracks(&Array::of1(&generator)).map_err(describe)?;
        video.set_src_object(Some(&stream));
        let writer = generator.writable().get_writer().map_err(describe)?;
        let parent = canvas
            .parent_node()
            .ok_or("the canvas is not on the page")?;
        parent
            .insert_before(&video, Some(canvas))
            .map_err(describe)?;
        let _ = canvas.style().set_property("display", "none");
        Ok(Self {
            video,
            writer,
            ignore: Closure::new(|_: JsValue| {}),
        })
    }

    /// Show `frame` (the track takes it and closes it once shown).
    pub fn write(&self, frame: &VideoFrame) {
        let _ = self.writer.write_with_chunk(frame).catch(&self.ignore);
    }

    /// Take the element off the page.
    pub fn remove(&self) {
        let _ = self.writer.close();
        self.video.remove();
    }
}
