//! A/V sync from the media: the test source flashes and beeps at every whole Unix second of
//! capture time, and the viewer's sync probe (`?probe=1`) notes when each flash is painted and
//! each beep onset is heard. Pairing them gives the skew a person perceives; each onset's
//! distance past its whole second is that medium's end-to-end latency.

/// Onsets further apart than this are not the same second's flash and beep.
const PAIR_WINDOW_MS: f64 = 400.0;

/// Per-second figures from one recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sync {
    /// Beep heard minus flash painted, ms (positive: sound after picture), one per second.
    pub skews_ms: Vec<f64>,
    /// Beep heard minus its whole second, ms.
    pub audio_latency_ms: Vec<f64>,
    /// Flash painted minus its whole second, ms.
    pub video_latency_ms: Vec<f64>,
}

/// Pair each beep with the flash nearest to it; onsets are Unix ms.
pub fn measure(flashes: &[f64], beeps: &[f64]) -> Sync {
    let since_second = |at: f64| at.rem_euclid(1000.0);
    let mut sync = Sync {
        audio_latency_ms: beeps.iter().copied().map(since_second).collect(),
        video_latency_ms: flashes.iter().copied().map(since_second).collect(),
        ..Sync::default()
    };
    for &beep in beeps {
        let nearest = flashes
            .iter()
            .copied()
            .min_by(|a, b| (a - beep).abs().total_cmp(&(b - beep).abs()));
        if let Some(flash) = nearest.filter(|flash| (flash - beep).abs() <= PAIR_WINDOW_MS) {
            sync.skews_ms.push(beep - flash);
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

    #[test]
    fn pairs_each_beep_with_its_seconds_flash() {
        let flashes = [10_030.0, 11_028.0, 12_031.0];
        let beeps = [10_045.0, 11_040.0, 13_050.0];
        let sync = measure(&flashes, &beeps);
        assert_eq!(sync.skews_ms, [15.0, 12.0], "the unpaired beep is left out");
        assert_eq!(sync.audio_latency_ms, [45.0, 40.0, 50.0]);
        assert_eq!(sync.video_latency_ms, [30.0, 28.0, 31.0]);
    }

    #[test]
    fn sound_before_picture_is_negative_skew() {
        assert_eq!(measure(&[5_060.0], &[5_020.0]).skews_ms, [-40.0]);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&values, 50.0), Some(3.0));
        assert_eq!(percentile(&values, 95.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
