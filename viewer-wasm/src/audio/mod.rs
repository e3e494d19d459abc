//! Audio playout, host-independent: the player core that decides where each decoded chunk is
//! heard ([`player`], run by the page and the audio worker alike, and by the simulator), the
//! ring the AudioWorklet reads ([`ring`]) and what it plays where the ring runs dry
//! ([`conceal`]), when each sample should be heard ([`schedule`]) and how the stream is kept
//! on that plan despite late arrivals and clock drift ([`drift`]); what `stats().audio` says
//! ([`status`]).

pub mod conceal;
pub mod drift;
pub mod jitter;
pub mod pairing;
pub mod player;
pub mod ring;
pub mod schedule;
#[cfg(test)]
mod sim;
pub mod status;
pub mod worker_link;

/// The value of the constant `name` as `web/audio_worklet.js` defines it (`name = value`): the
/// worklet is plain JS, and the tests check its constants against the Rust ones they mirror.
#[cfg(test)]
fn worklet_constant(name: &str) -> f64 {
    let worklet = include_str!("../web/audio_worklet.js");
    let pattern = format!(" {name} = ");
    let at = worklet
        .find(&pattern)
        .unwrap_or_else(|| panic!("audio_worklet.js defines no {name}"))
        + pattern.len();
    let value = &worklet[at..];
    let end = value.find([',', ';']).expect("a terminated constant");
    value[..end].trim().parse().expect("a number")
}
