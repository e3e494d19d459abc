//! Fuzzes the catalog path: snapshot and merge-patch frames (`snapshot`), the catalog read from
//! them (`catalog`) and the update check (`player::catalog_update`). Arbitrary bytes, mutated
//! and generated catalogs never panic, a patch applied twice changes nothing more, a catalog
//! never restarts against itself; hostile frames (deep nesting, huge arrays, patches that grow
//! the document) are refused or capped, and the heap the viewer holds stays bounded, as this
//! test's allocator measures it. `FUZZ_ITERATIONS=1000000 cargo test -p viewer-wasm fuzz_`
//! runs longer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fuzz_input::{Rng, iterations};
use viewer_wasm::catalog::Catalog;
use viewer_wasm::player::catalog_update::{self, Playing};
use viewer_wasm::snapshot::{MAX_FRAME_BYTES, MAX_PATCH_BYTES, Snapshot};

/// Counts the heap each thread holds, so a test measures its own allocations only.
struct Counting;

thread_local! {
    static HELD: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    let _ = HELD.try_with(|held| {
        held.set(held.get() + delta);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(held.get())));
    });
}

// SAFETY: every call forwards to `System` unchanged; only the counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The heap this thread holds now; also restarts the peak from here.
fn held() -> i64 {
    let held = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(held));
    held
}

/// The most this thread held since the last [`held`].
fn peak() -> i64 {
    PEAK.with(Cell::get)
}

/// The most heap a `Snapshot` may hold between frames: its value, from at most
/// `MAX_FRAME_BYTES + MAX_PATCH_BYTES` of JSON, each byte of it held as at most 32 bytes of
/// `serde_json::Value` (the worst is an array of `0,`: a 32-byte value per two bytes, in a
/// vector up to twice its length).
const HOLD_CAP: i64 = 32 * (MAX_FRAME_BYTES + MAX_PATCH_BYTES) as i64;
/// The most heap one frame may take while it is applied: what is held, plus the frame parsed.
const PEAK_CAP: i64 = HOLD_CAP + 32 * MAX_FRAME_BYTES as i64;

/// Names a catalog uses, so generated objects hit the fields the viewer reads.
const KEYS: [&str; 20] = [
    "video",
    "audio",
    "renditions",
    "clock",
    "codec",
    "description",
    "codedWidth",
    "codedHeight",
    "displayAspectWidth",
    "displayRatioHeight",
    "bitrate",
    "framerate",
    "container",
    "kind",
    "broadcast",
    "sampleRate",
    "numberOfChannels",
    "wall",
    "timescale",
    "x",
];
const NAMES: [&str; 3] = ["v", "w", "a"];
const SCALARS: [&str; 24] = [
    "null",
    "true",
    "false",
    "0",
    "-1",
    "60",
    "1.5",
    "-0",
    "4294967296",
    "18446744073709551616",
    "1e400",
    "1e-400",
    r#""legacy""#,
    r#""cmaf""#,
    r#""avc1.640020""#,
    r#""opus""#,
    r#""0164001fffe1""#,
    r#""abc""#,
    r#""é""#,
    r#""\u0000""#,
    r#""\ud800""#,
    r#""""#,
    "1000000",
    "48000",
];

/// A random JSON value at most `depth` containers deep.
fn value(rng: &mut Rng, depth: usize, out: &mut String) {
    match rng.below(if depth == 0 { 2 } else { 4 }) {
        0 => out.push_str(SCALARS[rng.below(SCALARS.len())]),
        1 => out.push_str(&rng.next_u64().to_string()),
        2 => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                value(rng, depth - 1, out);
            }
            out.push(']');
        }
        _ => object(rng, &KEYS, depth, out),
    }
}

/// An object of up to four members named from `keys`.
fn object(rng: &mut Rng, keys: &[&str], depth: usize, out: &mut String) {
    out.push('{');
    for i in 0..rng.below(5) {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(r#""{}":"#, keys[rng.below(keys.len())]));
        value(rng, depth - 1, out);
    }
    out.push('}');
}

/// A catalog-shaped object (a snapshot, or a patch: nulls delete) with random leaves.
fn catalog(rng: &mut Rng) -> String {
    let mut out = String::from("{");
    for (i, section) in ["video", "audio", "clock"].iter().enumerate() {
        if rng.below(3) == 0 {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&format!(r#""{section}":"#));
        if i == 2 || rng.below(8) == 0 {
            value(rng, 2, &mut out);
            continue;
        }
        out.push_str(r#"{"renditions":{"#);
        for j in 0..rng.below(3) {
            if j > 0 {
                out.push(',');
            }
            out.push_str(&format!(r#""{}":"#, NAMES[rng.below(NAMES.len())]));
            object(rng, &KEYS, 2, &mut out);
        }
        out.push_str("}}");
    }
    out.push('}');
    out
}

/// `frame` with a few bytes changed, inserted, removed or cut off.
fn mutate(rng: &mut Rng, mut frame: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(frame.len() + 1);
        match rng.below(4) {
            0 if at < frame.len() => frame[at] = rng.next_u64() as u8,
            1 => frame.insert(at, b"{}[]\":,0\\"[rng.below(9)]),
            2 if at < frame.len() => drop(frame.remove(at)),
            _ => frame.truncate(at),
        }
    }
    frame
}

/// What plays when `catalog` is played.
fn playing(catalog: &Catalog) -> Vec<(String, viewer_wasm::catalog::Rendition)> {
    catalog
        .ranked_video()
        .into_iter()
        .map(|(name, rendition)| (name.to_owned(), rendition.clone()))
        .collect()
}

/// Everything the viewer reads from a catalog, read; and the update check against `previous`.
fn read(catalog: &Catalog, previous: Option<&Catalog>) {
    for (_, rendition) in catalog.ranked_video() {
        let _ = (rendition.unplayable_reason(), rendition.describe());
        assert!(rendition.decode_cost() > 0.0);
    }
    if let Some((_, audio)) = catalog.best_audio() {
        let _ = (audio.unplayable_reason(), audio.describe());
    }
    let video = playing(catalog);
    let itself = Playing {
        catalog,
        video: &video,
        audio: catalog.best_audio(),
    };
    assert!(
        !catalog_update::restarts(itself, catalog),
        "a catalog restarts against itself: {catalog:?}"
    );
    if let Some(previous) = previous {
        let video = playing(previous);
        let before = Playing {
            catalog: previous,
            video: &video,
            audio: previous.best_audio(),
        };
        catalog_update::restarts(before, catalog);
    }
}

#[test]
fn fuzz_catalog_arbitrary_frames() {
    let mut rng = Rng::new(0xca7a_1065);
    for _ in 0..iterations(15_000) {
        let mut snapshot = Snapshot::default();
        let mut previous = None;
        for i in 0..1 + rng.below(8) {
            let frame = match rng.below(10) {
                0 | 1 => rng.bytes(48),
                2 | 3 => {
                    let frame = catalog(&mut rng).into_bytes();
                    mutate(&mut rng, frame)
                }
                _ => catalog(&mut rng).into_bytes(),
            };
            let first_in_group = i == 0 || rng.below(4) == 0;
            let applied = snapshot.apply(first_in_group, &frame);
            let now = snapshot.catalog();
            match &applied {
                Err(_) => assert!(now.is_none(), "a failed frame leaves no value"),
                Ok(()) => assert!(now.is_some(), "an applied frame leaves a value"),
            }
            if applied.is_ok() && !first_in_group {
                // RFC 7396 patches are idempotent.
                snapshot.apply(false, &frame).expect("the same patch again");
                assert_eq!(
                    snapshot.catalog(),
                    now,
                    "{}",
                    String::from_utf8_lossy(&frame)
                );
            }
            if let Some(Ok(catalog)) = now {
                read(&catalog, previous.as_ref());
                previous = Some(catalog);
            }
        }
    }
}

/// `open` repeated `depth` times, then `close` as often.
fn nested(open: &str, middle: &str, close: &str, depth: usize) -> Vec<u8> {
    [open.repeat(depth), middle.into(), close.repeat(depth)]
        .concat()
        .into_bytes()
}

/// Applies `frames` to one snapshot, checking the heap after each, and returns each result.
fn apply_measured(frames: impl IntoIterator<Item = (bool, Vec<u8>)>) -> Vec<Result<(), String>> {
    let base = held();
    let mut snapshot = Snapshot::default();
    let mut results = Vec::new();
    for (first_in_group, frame) in frames {
        let before = held();
        let result = snapshot.apply(first_in_group, &frame);
        if let Some(Ok(catalog)) = snapshot.catalog() {
            read(&catalog, None);
        }
        let during = peak() - before;
        assert!(during <= PEAK_CAP, "{during} bytes while applying a frame");
        drop(frame);
        results.push(result.map_err(|err| err.to_string()));
        let holds = held() - base;
        assert!(holds <= HOLD_CAP, "the snapshot holds {holds} bytes");
    }
    results
}

#[test]
fn fuzz_catalog_hostile_inputs() {
    let mut rng = Rng::new(0x5eed);
    // Nesting past serde_json's 128 levels is an error, never a stack overflow; 120 levels are
    // read, and patches that nest along the same path cannot deepen the document.
    let deep = [
        (true, nested("[", "0", "]", 100_000)),
        (true, nested(r#"{"a":"#, "0", "}", 100_000)),
        (true, nested(r#"{"video":"#, "{}", "}", 120)),
    ];
    let results = apply_measured(
        deep.into_iter()
            .chain((0..50).map(|_| (false, nested(r#"{"video":"#, r#"{"x":[[[0]]]}"#, "}", 120)))),
    );
    assert!(results[0].is_err() && results[1].is_err(), "{results:?}");
    assert!(results[2..].iter().all(Result::is_ok), "{results:?}");

    // Huge arrays and objects, snapshots and patches, each just under the frame cap.
    let huge_array = |key: &str| {
        let mut frame = format!(r#"{{"{key}":["#).into_bytes();
        while frame.len() < MAX_FRAME_BYTES - 8 {
            frame.extend_from_slice(b"0,");
        }
        frame.extend_from_slice(b"0]}");
        frame
    };
    let mut key = 0u64;
    let mut wide = |rng: &mut Rng| {
        let mut frame = b"{".to_vec();
        while frame.len() < MAX_FRAME_BYTES - 32 {
            key += 1 + rng.below(3) as u64;
            frame.extend_from_slice(format!(r#""{key:x}":{},"#, rng.below(10)).as_bytes());
        }
        frame.extend_from_slice(b"\"end\":0}");
        frame
    };
    let frames: Vec<_> = [
        (true, huge_array("video")),
        (false, huge_array("audio")),
        (true, wide(&mut rng)),
        (false, wide(&mut rng)),
        (false, wide(&mut rng)),
        (true, vec![b' '; MAX_FRAME_BYTES + 1]),
    ]
    .into_iter()
    .collect();
    let results = apply_measured(frames);
    assert!(results[..4].iter().all(Result::is_ok), "{results:?}");
    // The second wide patch brings the patches past the cap: dropped until the next snapshot.
    assert!(
        results[4]
            .as_ref()
            .is_err_and(|err| err.contains("next snapshot"))
    );
    assert!(
        results[5]
            .as_ref()
            .is_err_and(|err| err.contains("too large"))
    );

    // Patches of 1–3 KiB that each add a member: the document would grow without end, but
    // about 500 fit; the cap refuses the next, what follows in the group patches nothing, and
    // the next group's snapshot starts again.
    let growth = iterations(3_000) as usize;
    let frames = (0..growth).map(|i| {
        let patch = format!(r#"{{"k{i}":"{}"}}"#, "x".repeat(1024 + rng.below(2048)));
        (i % 1000 == 0, patch.into_bytes())
    });
    let results = apply_measured(frames);
    for group in results.chunks(1000).filter(|group| group.len() > 700) {
        let fit = group.iter().take_while(|result| result.is_ok()).count();
        assert!((300..700).contains(&fit), "{fit} patches fit");
        let cap = format!("exceed {} KiB", MAX_PATCH_BYTES / 1024);
        assert!(group[fit].as_ref().is_err_and(|err| err.contains(&cap)));
        assert!(group[fit + 1..].iter().all(|result| {
            result
                .as_ref()
                .is_err_and(|err| err.contains("without its snapshot"))
        }));
    }
}
