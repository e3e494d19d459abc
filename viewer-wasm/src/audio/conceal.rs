//! Packet-loss concealment on the audio thread. When the sample ring runs dry after audio has
//! started, the reader does not fall silent: it repeats the last pitch period it played, fading
//! it out, and crossfades back into the ring's audio when that returns — no gap, no click.
//!
//! - History: the last 20 ms played (`WINDOW_S` + `MAX_PERIOD_S`), whatever it was: ring
//!   audio, crossfades, concealment.
//! - Pitch: the normalised autocorrelation of the last `WINDOW_S` played against the same span
//!   2.5–15 ms earlier; its first strong peak is the period (`FALLBACK_PERIOD_S` where no
//!   peak is strong, as in noise).
//! - Start: the first `CROSSFADE_S` carry the mismatch between the last played sample and
//!   its counterpart one period earlier, fading it out, so the concealment starts where the
//!   played audio stopped.
//! - Fade: the gain falls slowly at first and faster later (it is multiplied every frame by a
//!   factor that itself shrinks): half after `HALF_GAIN_S`, exact zeros below
//!   `SILENT_GAIN` (≈ 52 ms), so a short loss is barely heard and a long one becomes silence.
//! - Resume: ring audio that comes back is crossfaded in from the concealment over
//!   `CROSSFADE_S`.
//!
//! The worklet (`web/audio_worklet.js`, class `Concealer`) mirrors [`Concealer`] step for step,
//! with the same constants, in the same arithmetic (`f64`, samples stored as `f32`): this is
//! its tested reference.

/// The span of recent audio matched against earlier audio to find the pitch period.
const WINDOW_S: f64 = 0.005;
/// Pitch periods searched (400 Hz down to 67 Hz).
const MIN_PERIOD_S: f64 = 0.0025;
const MAX_PERIOD_S: f64 = 0.015;
/// The period repeated when none is found.
const FALLBACK_PERIOD_S: f64 = 0.010;
/// A correlation peak below this is no pitch: white noise reaches about 0.25 by chance over a
/// 5 ms window, voiced sound 0.7 and more.
const MIN_CORRELATION: f64 = 0.5;
/// The first peak within this of the strongest is the period: the fundamental, not a multiple.
const PERIOD_TOLERANCE: f64 = 0.1;
/// Length of the crossfades into and out of a concealment.
const CROSSFADE_S: f64 = 0.0025;
/// Concealment time at which the gain is one half.
const HALF_GAIN_S: f64 = 0.020;
/// Below this gain the concealment plays exact zeros.
const SILENT_GAIN: f64 = 0.01;

/// Frames in `seconds` at `sample_rate`, at least one (`Math.round` in the worklet).
fn frames(sample_rate: f64, seconds: f64) -> usize {
    ((sample_rate * seconds).round() as usize).max(1)
}

/// The reader's concealment state for one stream: the history of what it played and the
/// concealment under way, if any.
#[derive(Debug, Clone)]
pub struct Concealer {
    channels: usize,
    window: usize,
    min_period: usize,
    max_period: usize,
    fallback: usize,
    crossfade: usize,
    /// What the gain's per-frame factor is multiplied by every frame.
    decay: f64,
    /// The last `window + max_period` frames played, interleaved, oldest at frame `at`.
    history: Vec<f32>,
    at: usize,
    /// Scratch for the pitch search: the history summed over channels, and the correlations.
    mono: Vec<f64>,
    correlation: Vec<f64>,
    /// The period repeated (its first `period` frames), interleaved; `period` is 0 when no
    /// concealment is under way.
    cycle: Vec<f32>,
    period: usize,
    /// Per channel: the last played sample minus its counterpart one period earlier.
    offset: Vec<f64>,
    /// Frames concealed in this concealment, while not yet silent.
    concealed: usize,
    gain: f64,
    step: f64,
    /// Frames of ring audio crossfaded in since it came back.
    resumed: usize,
    scratch: Vec<f32>,
}

impl Concealer {
    /// A concealer for audio at `sample_rate` with `channels` interleaved channels.
    pub fn new(sample_rate: f64, channels: u32) -> Self {
        let channels = channels.max(1) as usize;
        let frames = |seconds| frames(sample_rate, seconds);
        let (window, max_period) = (frames(WINDOW_S), frames(MAX_PERIOD_S));
        let half = frames(HALF_GAIN_S) as f64;
        let length = window + max_period;
        Self {
            channels,
            window,
            min_period: frames(MIN_PERIOD_S),
            max_period,
            fallback: frames(FALLBACK_PERIOD_S),
            crossfade: frames(CROSSFADE_S),
            // The gain after k frames is decay^(k(k−1)/2): one half after `half` frames.
            decay: 0.5f64.powf(2.0 / (half * (half - 1.0))),
            history: vec![0.0; length * channels],
            at: 0,
            mono: vec![0.0; length],
            correlation: vec![0.0; max_period + 1],
            cycle: vec![0.0; max_period * channels],
            period: 0,
            offset: vec![0.0; channels],
            concealed: 0,
            gain: 0.0,
            step: 0.0,
            resumed: 0,
            scratch: vec![0.0; channels],
        }
    }

    /// A frame from the ring is played: crossfaded in from the concealment it ends, if any.
    pub fn play(&mut self, frame: &mut [f32]) {
        if self.period > 0 {
            let weight = (self.resumed + 1) as f64 / self.crossfade as f64;
            let mut scratch = std::mem::take(&mut self.scratch);
            self.next(&mut scratch);
            for (sample, concealed) in frame.iter_mut().zip(&scratch) {
                *sample =
                    (f64::from(*concealed) * (1.0 - weight) + f64::from(*sample) * weight) as f32;
            }
            self.scratch = scratch;
            self.resumed += 1;
            if self.resumed == self.crossfade {
                self.period = 0;
            }
        }
        self.remember(frame);
    }

    /// The ring is dry: write the concealment's next frame to `frame`.
    pub fn conceal(&mut self, frame: &mut [f32]) {
        if self.period == 0 || self.resumed > 0 {
            self.start();
        }
        self.next(frame);
        self.remember(frame);
    }

    fn remember(&mut self, frame: &[f32]) {
        let at = self.at * self.channels;
        self.history[at..at + self.channels].copy_from_slice(frame);
        self.at = (self.at + 1) % self.mono.len();
    }

    /// Where history frame `index` (0 the oldest) starts.
    fn frame_at(&self, index: usize) -> usize {
        (self.at + index) % self.mono.len() * self.channels
    }

    /// A concealment starts: find the period, keep it, note the mismatch at its start.
    fn start(&mut self) {
        let length = self.mono.len();
        for index in 0..length {
            let at = self.frame_at(index);
            let mut sum = 0.0;
            for sample in &self.history[at..at + self.channels] {
                sum += f64::from(*sample);
            }
            self.mono[index] = sum;
        }
        let period = pitch_period(
            &self.mono,
            self.window,
            self.min_period,
            self.max_period,
            &mut self.correlation,
        )
        .unwrap_or(self.fallback);
        for index in 0..period {
            let from = self.frame_at(length - period + index);
            let to = index * self.channels;
            self.cycle[to..to + self.channels]
                .copy_from_slice(&self.history[from..from + self.channels]);
        }
        let (last, before) = (
            self.frame_at(length - 1),
            self.frame_at(length - 1 - period),
        );
        for channel in 0..self.channels {
            self.offset[channel] =
                f64::from(self.history[last + channel]) - f64::from(self.history[before + channel]);
        }
        self.period = period;
        self.concealed = 0;
        self.gain = 1.0;
        self.step = 1.0;
        self.resumed = 0;
    }

    /// The concealment's next frame.
    fn next(&mut self, frame: &mut [f32]) {
        if self.gain < SILENT_GAIN {
            frame.fill(0.0);
            return;
        }
        let weight = if self.concealed < self.crossfade {
            (self.concealed + 1) as f64 / self.crossfade as f64
        } else {
            1.0
        };
        let at = self.concealed % self.period * self.channels;
        for (channel, sample) in frame.iter_mut().enumerate() {
            *sample = (self.gain
                * (f64::from(self.cycle[at + channel]) + self.offset[channel] * (1.0 - weight)))
                as f32;
        }
        self.gain *= self.step;
        self.step *= self.decay;
        self.concealed += 1;
    }
}

/// The pitch period of `mono` (oldest first), in frames: the lag in `min..=max` at the first
/// peak of the normalised autocorrelation (its last `window` frames against the same span
/// `lag` frames earlier) within [`PERIOD_TOLERANCE`] of the strongest peak, or `None` when no
/// peak reaches `MIN_CORRELATION`. A peak is a lag strictly inside the range whose
/// correlation is no lower than its neighbours'. `correlation` is scratch, `max + 1` long.
fn pitch_period(
    mono: &[f64],
    window: usize,
    min: usize,
    max: usize,
    correlation: &mut [f64],
) -> Option<usize> {
    let end = mono.len();
    let recent = &mono[end - window..];
    let mut energy = 0.0;
    for sample in recent {
        energy += sample * sample;
    }
    for lag in min..=max {
        let earlier = &mono[end - window - lag..end - lag];
        let (mut product, mut power) = (0.0, 0.0);
        for (now, then) in recent.iter().zip(earlier) {
            product += now * then;
            power += then * then;
        }
        let norm = (energy * power).sqrt();
        correlation[lag] = if norm > 0.0 { product / norm } else { 0.0 };
    }
    let peak = |lag: usize| {
        correlation[lag] >= correlation[lag - 1] && correlation[lag] >= correlation[lag + 1]
    };
    let best = (min + 1..max)
        .filter(|&lag| peak(lag))
        .map(|lag| correlation[lag])
        .fold(f64::NEG_INFINITY, f64::max);
    if best < MIN_CORRELATION {
        return None;
    }
    (min + 1..max).find(|&lag| peak(lag) && correlation[lag] >= best - PERIOD_TOLERANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 48_000.0;

    fn sine(frequency: f64, range: std::ops::Range<usize>) -> Vec<f64> {
        range
            .map(|n| 0.5 * (std::f64::consts::TAU * frequency * n as f64 / RATE).sin())
            .collect()
    }

    fn search(mono: &[f64]) -> Option<usize> {
        let concealer = Concealer::new(RATE, 1);
        let mut correlation = vec![0.0; concealer.max_period + 1];
        pitch_period(
            &mono[mono.len() - concealer.mono.len()..],
            concealer.window,
            concealer.min_period,
            concealer.max_period,
            &mut correlation,
        )
    }

    #[test]
    fn lengths_scale_with_the_sample_rate() {
        let at_48k = Concealer::new(48_000.0, 2);
        assert_eq!(
            (at_48k.window, at_48k.min_period, at_48k.max_period),
            (240, 120, 720)
        );
        assert_eq!((at_48k.fallback, at_48k.crossfade), (480, 120));
        assert_eq!(at_48k.history.len(), 960 * 2, "20 ms of history");
        let at_16k = Concealer::new(16_000.0, 1);
        assert_eq!(
            (at_16k.window, at_16k.max_period, at_16k.crossfade),
            (80, 240, 40)
        );
    }

    #[test]
    fn the_period_of_a_tone_is_its_fundamental_not_a_multiple() {
        // 200 Hz: 240 frames, and 480 and 720 correlate as well.
        assert_eq!(search(&sine(200.0, 0..2000)), Some(240));
        // 150 Hz: 320 frames; 310 Hz: 154.8 frames, found within a frame.
        assert_eq!(search(&sine(150.0, 0..2000)), Some(320));
        let period = search(&sine(310.0, 0..2000)).expect("a period");
        assert!((154..=156).contains(&period), "{period}");
    }

    #[test]
    fn noise_and_silence_have_no_period() {
        let mut state = 0x2545_f491_u32;
        let noise: Vec<f64> = (0..960)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                f64::from(state) / f64::from(u32::MAX) - 0.5
            })
            .collect();
        assert_eq!(search(&noise), None);
        assert_eq!(search(&[0.0; 960]), None);
        // A hum slower than the longest period peaks at no lag inside the range either.
        assert_eq!(search(&sine(40.0, 0..2000)), None);
    }

    #[test]
    fn each_channel_is_continued_with_the_period_of_their_sum() {
        let mut concealer = Concealer::new(RATE, 2);
        let left = sine(200.0, 0..2_400);
        for sample in &left {
            let mut frame = [*sample as f32, (-0.5 * sample) as f32];
            concealer.play(&mut frame);
        }
        let expected = sine(200.0, 2_400..2_640);
        for (n, expected) in expected.iter().enumerate() {
            let mut frame = [0.0; 2];
            concealer.conceal(&mut frame);
            let gain = 0.5f64.powf((n * n.saturating_sub(1)) as f64 / (960.0 * 959.0));
            assert!(
                (f64::from(frame[0]) - gain * expected).abs() < 1e-4,
                "frame {n}"
            );
            assert!(
                (f64::from(frame[1]) + gain * expected / 2.0).abs() < 1e-4,
                "frame {n}"
            );
        }
        assert_eq!(concealer.period, 240);
    }

    #[test]
    fn the_worklet_uses_the_same_constants() {
        for (name, value) in [
            ("WINDOW_S", WINDOW_S),
            ("MIN_PERIOD_S", MIN_PERIOD_S),
            ("MAX_PERIOD_S", MAX_PERIOD_S),
            ("FALLBACK_PERIOD_S", FALLBACK_PERIOD_S),
            ("MIN_CORRELATION", MIN_CORRELATION),
            ("PERIOD_TOLERANCE", PERIOD_TOLERANCE),
            ("CROSSFADE_S", CROSSFADE_S),
            ("HALF_GAIN_S", HALF_GAIN_S),
            ("SILENT_GAIN", SILENT_GAIN),
        ] {
            assert_eq!(crate::audio::worklet_constant(name), value, "{name}");
        }
    }
}
