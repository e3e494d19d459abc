//! Which packet a decoded chunk came from, so it is scheduled by its packet's own timestamp.
//!
//! A decoder outputs one chunk per packet, in order, but it may drop one (a packet it could not
//! decode) and it may stamp chunks by counting samples rather than echoing the packet's
//! timestamp. Pairing by position would shift every later chunk by one packet after a drop;
//! pairing by the output's timestamp alone would drift after a gap in the stream. So an output
//! is paired with the packet whose timestamp it carries, when one does (the packets before it
//! were dropped), and otherwise with the oldest packet waiting (the decoder restamped it). The
//! queue is bounded: packets that never come out are forgotten, oldest first.

use std::collections::VecDeque;

/// The most packets waiting for their output: a second of 10 ms packets (the decoder holds a
/// few; more means outputs were lost).
pub const MAX_WAITING: usize = 100;
/// How close an output's timestamp must be to a packet's to be that packet's, µs.
pub const MATCH_US: f64 = 500.0;

/// Packets submitted to the decoder, waiting for their output.
#[derive(Debug, Clone, Default)]
pub struct Pairing {
    waiting: VecDeque<f64>,
    /// Packets whose output never came (dropped by the decoder, or forgotten).
    pub lost: u64,
    /// Outputs paired by position because their timestamp matched no packet.
    pub restamped: u64,
}

impl Pairing {
    /// A packet with this timestamp went into the decoder.
    pub fn submitted(&mut self, timestamp_us: f64) {
        if self.waiting.len() == MAX_WAITING {
            self.waiting.pop_front();
            self.lost += 1;
        }
        self.waiting.push_back(timestamp_us);
    }

    /// The timestamp of the packet an output stamped `output_us` came from; `output_us` itself
    /// when nothing is waiting.
    pub fn output(&mut self, output_us: f64) -> f64 {
        let matched = self
            .waiting
            .iter()
            .position(|&timestamp| (timestamp - output_us).abs() <= MATCH_US);
        match matched {
            Some(index) => {
                self.lost += index as u64;
                self.waiting.drain(..index);
                self.waiting.pop_front().unwrap_or(output_us)
            }
            None => match self.waiting.pop_front() {
                Some(timestamp) => {
                    self.restamped += 1;
                    timestamp
                }
                None => output_us,
            },
        }
    }

    /// Whatever was in flight is gone (the decoder was rebuilt).
    pub fn clear(&mut self) {
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET_US: f64 = 10_000.0;

    #[test]
    fn a_decoder_that_drops_outputs_does_not_shift_the_rest() {
        let mut pairing = Pairing::default();
        for n in 0..10 {
            pairing.submitted(f64::from(n) * PACKET_US);
        }
        // Outputs for packets 3 and 7 never come; the others echo their timestamps.
        for n in (0..10).filter(|n| *n != 3 && *n != 7) {
            let timestamp = f64::from(n) * PACKET_US;
            assert_eq!(pairing.output(timestamp), timestamp);
        }
        assert_eq!((pairing.lost, pairing.restamped), (2, 0));
    }

    #[test]
    fn a_decoder_that_counts_samples_across_a_gap_is_paired_by_position() {
        let mut pairing = Pairing::default();
        // Packets 0–4, then a skipped group, then 20–24; the decoder stamps 0, 10 ms, 20 ms, …
        let packets: Vec<f64> = (0..5)
            .chain(20..25)
            .map(|n| f64::from(n) * PACKET_US)
            .collect();
        packets.iter().for_each(|&p| pairing.submitted(p));
        for (index, &packet) in packets.iter().enumerate() {
            assert_eq!(pairing.output(index as f64 * PACKET_US), packet);
        }
        assert_eq!((pairing.lost, pairing.restamped), (0, 5));
    }

    #[test]
    fn the_queue_is_bounded_and_a_rebuild_empties_it() {
        let mut pairing = Pairing::default();
        for n in 0..(MAX_WAITING as u32 + 20) {
            pairing.submitted(f64::from(n) * PACKET_US);
        }
        assert_eq!(pairing.lost, 20);
        assert_eq!(pairing.output(20.0 * PACKET_US), 20.0 * PACKET_US);
        pairing.clear();
        assert_eq!(
            pairing.output(123.0),
            123.0,
            "nothing waiting: the output's own"
        );
    }
}
