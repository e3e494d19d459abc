//! Audio playout, host-independent: the ring the AudioWorklet reads ([`ring`]) and what it
//! plays where the ring runs dry ([`conceal`]), when each sample should be heard
//! ([`schedule`]) and how the stream is kept on that plan despite late arrivals and clock
//! drift ([`drift`]); what `stats().audio` says ([`status`]).

pub mod conceal;
pub mod drift;
pub mod jitter;
pub mod pairing;
pub mod ring;
pub mod schedule;
#[cfg(test)]
mod sim;
pub mod status;
pub mod worker_link;
