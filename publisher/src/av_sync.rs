//! The test source's audio/video sync signal: a flash in the picture and a beep in the sound, both
//! at every whole second of **Unix** time of the media's *stamped* time, so that their onsets
//! coincide by construction in timestamp terms. Anything that sees and hears the stream (a browser
//! probe, a camera and microphone in front of a screen) can measure A/V sync from them.
//!
//! The layout is [`test_signal::sync`]'s (other tools rely on it).
//!
//! "Stamped time" is the media timestamp the publisher writes (µs after the broadcast's
//! `base_unix_micros`), so Unix time = `base + t`. The filters are applied after the timestamps are
//! set (`setpts` / `asetpts`), and add `FRAC = (base mod 1 s)` to ffmpeg's `t` so that they mark
//! whole *Unix* seconds, not whole seconds since the base.

use test_signal::sync::{BEEP_AMPLITUDE, BEEP_HZ, FLASH_INSET, FLASH_SIZE, ON_MS};

/// `base mod 1 s` in seconds, as ffmpeg expression text.
fn frac(base_unix_micros: u64) -> String {
    format!("{:.6}", (base_unix_micros % 1_000_000) as f64 / 1e6)
}

/// Expression (of ffmpeg's `t`, seconds of stamped time) that is 1 during the flash/beep.
fn on(base_unix_micros: u64) -> String {
    let frac = frac(base_unix_micros);
    format!("lt(mod(t+{frac}\\,1)\\,{})", f64::from(ON_MS) / 1000.0)
}

/// Video filter fragment drawing the flash square; its input must carry stamped time in a
/// 1/1000000 time base (after `settb=AVTB,setpts=RTCTIME-base`).
pub fn flash_filter(base_unix_micros: u64) -> String {
    let geometry = format!("x=iw-{FLASH_INSET}:y=ih-{FLASH_INSET}:w={FLASH_SIZE}:h={FLASH_SIZE}");
    format!(
        "drawbox={geometry}:color=black:t=fill,\
         drawbox={geometry}:color=white:t=fill:enable='{}'",
        on(base_unix_micros)
    )
}

/// Audio filter fragment replacing its input with the beep (and silence between beeps); its input
/// must carry stamped time (after `asettb=AVTB,asetpts=…`). Keeps the channel layout.
pub fn beep_filter(base_unix_micros: u64, channels: u32) -> String {
    let frac = frac(base_unix_micros);
    let expr = format!(
        "{BEEP_AMPLITUDE}*sin(2*PI*{BEEP_HZ}*(t+{frac}))*{}",
        on(base_unix_micros)
    );
    let exprs = vec![expr; channels.max(1) as usize].join("|");
    format!("aeval='{exprs}':c=same")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn now_micros() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
    }

    fn ffmpeg(args: &[&str]) -> Vec<u8> {
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error"])
            .args(args)
            .output()
            .expect("ffmpeg runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Frames at 100 fps with synthetic stamps (`N*10 ms`), so every 10 ms step is exercised
    /// without waiting in real time; base chosen 0.37 s past a whole second.
    #[test]
    fn the_flash_is_white_in_the_first_100_ms_of_each_unix_second_and_black_otherwise() {
        let base = 1_700_000_000_370_000u64;
        let graph = format!(
            "settb=AVTB,setpts=N*10000,{},format=gray",
            flash_filter(base)
        );
        let raw = ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:size=320x240:rate=100",
            "-vf",
            &graph,
            "-frames:v",
            "200",
            "-f",
            "rawvideo",
            "pipe:1",
        ]);
        let frames: Vec<&[u8]> = raw.chunks_exact(320 * 240).collect();
        assert_eq!(frames.len(), 200);
        let centre = |f: &[u8]| f[(240 - 128) * 320 + (320 - 128)];
        for (n, frame) in frames.iter().enumerate() {
            let unix_ms = (base / 1000 + n as u64 * 10) % 1000;
            let expected = if unix_ms < 100 { 255 } else { 0 };
            // Exactly on an edge, rounding may go either way.
            if unix_ms == 0 || unix_ms == 100 {
                continue;
            }
            assert_eq!(centre(frame), expected, "frame {n} at {unix_ms} ms");
            // The square's corners, and nothing outside it.
            assert_eq!(frame[(240 - 192) * 320 + (320 - 192)], expected);
            assert_eq!(frame[(240 - 192 + 127) * 320 + (320 - 192 + 127)], expected);
            assert!((100..160).contains(&frame[(240 - 193) * 320 + (320 - 193)]));
        }
    }

    /// Real-time stamps like the publisher's: the beep starts within a few samples of a whole
    /// Unix second and lasts 100 ms, the flash over the same stamped time does the same.
    #[test]
    fn beep_onsets_land_on_whole_unix_seconds_of_stamped_time() {
        let base = now_micros() - 1_234_567; // any base, not on a whole second
        let graph = format!(
            "asettb=AVTB,asetpts=N*1000000/SR+RTCSTART-{base},{}",
            beep_filter(base, 2)
        );
        // 2.5 s of s16 stereo, generated faster than real time: stamps are sample-count based.
        let raw = ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=48000:cl=stereo:nb_samples=480:d=2.5",
            "-af",
            &graph,
            "-f",
            "s16le",
            "pipe:1",
        ]);
        let left: Vec<i16> = raw
            .chunks_exact(4)
            .map(|s| i16::from_le_bytes([s[0], s[1]]))
            .collect();
        let right: Vec<i16> = raw
            .chunks_exact(4)
            .map(|s| i16::from_le_bytes([s[2], s[3]]))
            .collect();
        assert_eq!(left, right, "both channels carry the beep");
        assert!(left.len() >= 48_000 * 2);
        // Onsets: first loud sample after ≥ 10 ms of silence; ends: last loud sample. A beep
        // already sounding when the render starts (the start's phase is the clock's) is not one.
        let loud = |s: &i16| s.unsigned_abs() > 1000;
        let mut onsets = Vec::new();
        let mut quiet_run = 0;
        for (i, s) in left.iter().enumerate() {
            if loud(s) {
                if quiet_run >= 480 {
                    onsets.push(i);
                }
                quiet_run = 0;
            } else {
                quiet_run += 1;
            }
        }
        assert!(onsets.len() >= 2, "two beeps in 2.5 s: {onsets:?}");
        // The peak amplitude is 0.5 of full scale.
        let peak = left.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((16_000..=16_500).contains(&peak), "peak {peak}");
        // Where in Unix time each onset is: the stamped time of sample i is first_pts + i/48 kHz,
        // with first_pts unknown to us (RTCSTART) — but onsets must be exactly 1 s apart and the
        // beep 100 ms long, and the onset's Unix-second phase equals that of the filter's time
        // axis, which we check against a sample-accurate rendering with a known start below.
        for pair in onsets.windows(2) {
            assert!(
                (pair[1] - pair[0]).abs_diff(48_000) <= 48,
                "onsets 1 s apart: {onsets:?}"
            );
        }
        let first = onsets[0];
        let last_loud = left[first..first + 6000].iter().rposition(loud).unwrap();
        assert!(
            (last_loud as i64 - 4800).abs() <= 48,
            "beep lasts 100 ms: {last_loud} samples"
        );

        // Known start: stamps from 0 (setpts N-based only), base 0.37 s past a second: the first
        // onset must be at 0.63 s = sample 30240, within a few samples.
        let base = 1_700_000_000_370_000u64;
        let graph = format!("asettb=AVTB,asetpts=N*1000000/SR,{}", beep_filter(base, 1));
        let raw = ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=48000:cl=mono:nb_samples=480:d=1",
            "-af",
            &graph,
            "-f",
            "s16le",
            "pipe:1",
        ]);
        let mono: Vec<i16> = raw
            .chunks_exact(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]))
            .collect();
        let onset = mono.iter().position(loud).expect("a beep");
        assert!(onset.abs_diff(30_240) <= 4, "onset at sample {onset}");
        assert!(mono[..onset].iter().all(|s| *s == 0), "silence before");
    }

    #[test]
    fn filters_carry_the_documented_numbers() {
        let flash = flash_filter(1_700_000_000_250_000);
        assert!(flash.contains("x=iw-192:y=ih-192:w=128:h=128"), "{flash}");
        assert!(flash.contains("color=white"), "{flash}");
        assert!(flash.contains("lt(mod(t+0.250000\\,1)\\,0.1)"), "{flash}");
        let beep = beep_filter(1_700_000_000_250_000, 2);
        assert!(beep.contains("0.5*sin(2*PI*1000*(t+0.250000))"), "{beep}");
        assert_eq!(beep.matches("sin(").count(), 2, "{beep}");
    }
}
