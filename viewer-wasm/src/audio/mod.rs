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
