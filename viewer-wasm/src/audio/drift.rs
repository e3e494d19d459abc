//! Keeping audio on schedule: each decoded chunk is written where it will be heard at its
//! planned time. How late (or early) it would be heard decides what happens to it:
//! - far off (a late arrival, a stalled tab, a new target), or the first chunk: jump — skip the
//!   frames already due, or put silence before an early chunk;
//! - slightly off (the sender's and this machine's audio clocks disagree by some ppm): nudge —
//!   resample the chunk by at most [`MAX_STRETCH`], so the buffer neither grows nor runs dry and
//!   nothing is heard but a slight pitch change; the same nudge brings the buffer down when
//!   the jitter buffer's target falls.

/// Lateness beyond which the corrector jumps instead of nudging, ms.
pub const JUMP_MS: f64 = 25.0;
/// Lateness the nudge leaves alone (the read position moves in render bursts), ms.
pub const DEADBAND_MS: f64 = 1.0;
/// The largest speed change a nudge makes: 1 %, 10 ms of correction per second — fast enough
/// to bring the jitter buffer down after a burst within a minute, a pitch change of a sixth
/// of a semitone at most, and only while the buffer is moving.
pub const MAX_STRETCH: f64 = 0.01;
/// The most silence one early chunk is given, ms.
const MAX_SILENCE_MS: f64 = 500.0;
/// Weight of a new lateness measurement in the running average the nudge follows.
const SMOOTHING: f64 = 0.1;
/// Fraction of the averaged lateness removed per second of audio.
const GAIN_PER_SECOND: f64 = 2.0;

/// What to do with one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Frames of silence to write before the chunk.
    pub silence: u32,
    /// Frames to drop from the chunk's start.
    pub skip: u32,
    /// Frames the rest of the chunk is resampled to.
    pub frames: u32,
}

/// The corrector's memory between chunks.
#[derive(Debug, Clone, Default)]
pub struct Corrector {
    /// Running average of the lateness, ms.
    average_ms: Option<f64>,
    /// Fractional frames of correction not applied yet.
    carry: f64,
    /// Jumps made so far (each one is audible), the first placement included. Chunks jumped in
    /// a row (a burst of late arrivals after a stall, skipped one after another) are one step
    /// of the audio clock, so one jump.
    pub jumps: u64,
    /// Whether the last chunk jumped.
    jumping: bool,
    /// Whether the first chunk has been placed.
    placed: bool,
}

impl Corrector {
    /// Plan a chunk of `frames` frames at `sample_rate` that would be heard `lateness_ms` after
    /// its planned time (negative: before it).
    pub fn plan(&mut self, lateness_ms: f64, frames: u32, sample_rate: f64) -> Plan {
        let per_ms = sample_rate / 1000.0;
        if !lateness_ms.is_finite() {
            return Plan {
                silence: 0,
                skip: 0,
                frames,
            };
        }
        // The first chunk goes exactly where it belongs: a nudge would take seconds to get there,
        // running dry or lagging all the while.
        let first = !std::mem::replace(&mut self.placed, true);
        let jump = if first { DEADBAND_MS } else { JUMP_MS };
        if lateness_ms > jump {
            self.restart();
            let skip = ((lateness_ms * per_ms).round() as u32).min(frames);
            return Plan {
                silence: 0,
                skip,
                frames: frames - skip,
            };
        }
        if lateness_ms < -jump {
            self.restart();
            let silence = (-lateness_ms).min(MAX_SILENCE_MS) * per_ms;
            return Plan {
                silence: silence.round() as u32,
                skip: 0,
                frames,
            };
        }
        self.jumping = false;
        let average = match self.average_ms {
            Some(average) => average + SMOOTHING * (lateness_ms - average),
            None => lateness_ms,
        };
        self.average_ms = Some(average);
        if average.abs() < DEADBAND_MS {
            return Plan {
                silence: 0,
                skip: 0,
                frames,
            };
        }
        let chunk_seconds = f64::from(frames) / sample_rate;
        let limit = f64::from(frames) * MAX_STRETCH;
        let wanted = average * per_ms * GAIN_PER_SECOND * chunk_seconds;
        self.carry += wanted.clamp(-limit, limit);
        let whole = self.carry.trunc();
        self.carry -= whole;
        // Late: fewer frames (play faster); early: more.
        let frames = (f64::from(frames) - whole).max(1.0) as u32;
        Plan {
            silence: 0,
            skip: 0,
            frames,
        }
    }

    fn restart(&mut self) {
        self.average_ms = None;
        self.carry = 0.0;
        if !std::mem::replace(&mut self.jumping, true) {
            self.jumps += 1;
        }
    }
}

/// `input` (interleaved, `channels` channels) resampled to `frames` frames by linear
/// interpolation, first and last frames kept.
pub fn resample(input: &[f32], channels: usize, frames: usize, output: &mut Vec<f32>) {
    output.clear();
    let channels = channels.max(1);
    let available = input.len() / channels;
    if available == 0 || frames == 0 {
        return;
    }
    if available == frames || available == 1 {
        for index in 0..frames {
            let source = index.min(available - 1) * channels;
            output.extend_from_slice(&input[source..source + channels]);
        }
        return;
    }
    let step = (available - 1) as f64 / (frames.max(2) - 1) as f64;
    for index in 0..frames {
        let position = index as f64 * step;
        let left = (position.floor() as usize).min(available - 1);
        let right = (left + 1).min(available - 1);
        let weight = (position - left as f64) as f32;
        for channel in 0..channels {
            let a = input[left * channels + channel];
            let b = input[right * channels + channel];
            output.push(a + (b - a) * weight);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 48_000.0;

    /// A corrector that has placed its first chunk.
    fn placed() -> Corrector {
        let mut corrector = Corrector::default();
        corrector.plan(0.0, 480, RATE);
        corrector
    }

    #[test]
    fn the_first_chunk_jumps_straight_to_its_place() {
        let mut corrector = Corrector::default();
        assert_eq!(
            corrector.plan(-20.0, 480, RATE),
            Plan {
                silence: 960,
                skip: 0,
                frames: 480
            }
        );
        let plan = corrector.plan(-20.0, 480, RATE);
        assert_eq!(plan.silence, 0, "later small errors are nudged: {plan:?}");
        let mut late = Corrector::default();
        assert_eq!(
            late.plan(5.0, 480, RATE),
            Plan {
                silence: 0,
                skip: 240,
                frames: 240
            }
        );
    }

    #[test]
    fn on_time_audio_is_left_alone() {
        let mut corrector = placed();
        for lateness in [0.0, 0.5, -0.8] {
            assert_eq!(
                corrector.plan(lateness, 480, RATE),
                Plan {
                    silence: 0,
                    skip: 0,
                    frames: 480
                }
            );
        }
    }

    #[test]
    fn far_too_late_skips_what_is_already_due() {
        let mut corrector = placed();
        assert_eq!(
            corrector.plan(40.0, 960, RATE),
            Plan {
                silence: 0,
                skip: 960,
                frames: 0
            },
            "a whole 20 ms chunk that is 40 ms late is dropped"
        );
        assert_eq!(
            corrector.plan(30.0, 4800, RATE),
            Plan {
                silence: 0,
                skip: 1440,
                frames: 3360
            }
        );
        assert_eq!(corrector.jumps, 1, "skipped one after another: one step");
        corrector.plan(0.0, 480, RATE);
        corrector.plan(30.0, 480, RATE);
        assert_eq!(
            corrector.jumps, 2,
            "a chunk on time in between: a second step"
        );
    }

    #[test]
    fn far_too_early_waits_in_silence() {
        let mut corrector = placed();
        assert_eq!(
            corrector.plan(-100.0, 480, RATE),
            Plan {
                silence: 4800,
                skip: 0,
                frames: 480
            }
        );
        assert_eq!(corrector.plan(-5000.0, 480, RATE).silence, 24_000, "capped");
    }

    #[test]
    fn slightly_late_plays_slightly_faster_never_beyond_the_stretch_limit() {
        let mut corrector = placed();
        let mut removed = 0u32;
        for _ in 0..100 {
            let plan = corrector.plan(20.0, 480, RATE);
            assert_eq!((plan.silence, plan.skip), (0, 0));
            assert!(plan.frames <= 480 && plan.frames >= 475, "{plan:?}");
            removed += 480 - plan.frames;
        }
        // 1 s of audio at the 1 % limit removes 480 frames (10 ms).
        assert!((470..=480).contains(&removed), "{removed}");
    }

    #[test]
    fn slightly_early_plays_slightly_slower() {
        let mut corrector = placed();
        let added: u32 = (0..100)
            .map(|_| corrector.plan(-10.0, 480, RATE).frames - 480)
            .sum();
        assert!((400..=480).contains(&added), "{added}");
    }

    #[test]
    fn resampling_keeps_the_ends_and_interpolates_between() {
        let input = [0.0, 10.0, 1.0, 11.0, 2.0, 12.0]; // 3 stereo frames
        let mut output = Vec::new();
        resample(&input, 2, 5, &mut output);
        assert_eq!(
            output,
            [0.0, 10.0, 0.5, 10.5, 1.0, 11.0, 1.5, 11.5, 2.0, 12.0]
        );
        resample(&input, 2, 3, &mut output);
        assert_eq!(output, input);
        resample(&input, 2, 2, &mut output);
        assert_eq!(output, [0.0, 10.0, 2.0, 12.0]);
        resample(&[], 2, 4, &mut output);
        assert!(output.is_empty());
    }
}
