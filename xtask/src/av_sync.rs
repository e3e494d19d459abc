//! A/V sync from the media: the test source flashes and beeps at every whole Unix second of
//! capture time, and the viewer's sync probe (`?probe=1`) notes when each flash is painted and
//! each beep onset is heard. Pairing them gives the skew a person perceives; each onset's
//! distance past its whole second is that medium's end-to-end latency.

/// Onsets further apart than this are not the same second's flash and beep.
const PAIR_WINDOW_MS: f64 = 400.0;

/// One flash as the probe noted it, Unix ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flash {
    pub painted: f64,
    /// When its first lit frame was captured (NaN when the broadcast has no clock).
    pub captured: f64,
}

/// Per-second figures from one recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sync {
    /// Beep heard minus flash painted, ms (positive: sound after picture), one per second.
    pub skews_ms: Vec<f64>,
    /// The same without the picture's sampling: beep heard minus (flash painted minus how long
    /// after its whole second the flash's first lit frame was captured), ms. A frame samples
    /// the flash up to a frame interval after it starts (half of one on average), so a person
    /// sees it that much later whatever the pipeline does; this is the pipelines' own skew, the
    /// figure the viewer's `skewMs` (audio latency − video latency) estimates. Pairs whose
    /// capture time is unknown are left out.
    pub pipeline_skews_ms: Vec<f64>,
    /// Beep heard minus its whole second, ms.
    pub audio_latency_ms: Vec<f64>,
    /// Flash painted minus its whole second, ms.
    pub video_latency_ms: Vec<f64>,
}

/// Pair each beep with the flash nearest to it; onsets are Unix ms.
pub fn measure(flashes: &[Flash], beeps: &[f64]) -> Sync {
    let since_second = |at: f64| at.rem_euclid(1000.0);
    let mut sync = Sync {
        audio_latency_ms: beeps.iter().copied().map(since_second).collect(),
        video_latency_ms: flashes.iter().map(|f| since_second(f.painted)).collect(),
        ..Sync::default()
    };
    for &beep in beeps {
        let nearest = flashes.iter().min_by(|a, b| {
            (a.painted - beep)
                .abs()
                .total_cmp(&(b.painted - beep).abs())
        });
        if let Some(flash) = nearest.filter(|flash| (flash.painted - beep).abs() <= PAIR_WINDOW_MS)
        {
            sync.skews_ms.push(beep - flash.painted);
            // The frame was captured within its second's flash (the first 100 ms of it).
            let sampled_late = since_second(flash.captured);
            if sampled_late < f64::from(test_signal::sync::ON_MS) {
                sync.pipeline_skews_ms
                    .push(beep - (flash.painted - sampled_late));
            }
        }
    }
    sync
}

/// Nearest-rank percentile of `values` (unsorted); `None` when empty.
pub fn percentile(values: &[f64], percentile: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (percentile / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flash(painted: f64, captured: f64) -> Flash {
        Flash { painted, captured }
    }

    #[test]
    fn pairs_each_beep_with_its_seconds_flash() {
        let flashes = [
            flash(10_030.0, 10_012.0),
            flash(11_028.0, 11_004.0),
            flash(12_031.0, f64::NAN),
        ];
        let beeps = [10_045.0, 11_040.0, 13_050.0];
        let sync = measure(&flashes, &beeps);
        assert_eq!(sync.skews_ms, [15.0, 12.0], "the unpaired beep is left out");
        // Their first lit frames were captured 12 and 4 ms into the flash.
        assert_eq!(sync.pipeline_skews_ms, [27.0, 16.0]);
        assert_eq!(sync.audio_latency_ms, [45.0, 40.0, 50.0]);
        assert_eq!(sync.video_latency_ms, [30.0, 28.0, 31.0]);
    }

    #[test]
    fn a_flash_without_its_capture_time_has_no_pipeline_skew() {
        let sync = measure(&[flash(10_030.0, f64::NAN)], &[10_045.0]);
        assert_eq!(sync.skews_ms, [15.0]);
        assert!(sync.pipeline_skews_ms.is_empty());
    }

    #[test]
    fn sound_before_picture_is_negative_skew() {
        let sync = measure(&[flash(5_060.0, 5_008.0)], &[5_020.0]);
        assert_eq!(sync.skews_ms, [-40.0]);
        assert_eq!(sync.pipeline_skews_ms, [-32.0]);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&values, 50.0), Some(3.0));
        assert_eq!(percentile(&values, 95.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
