//! What the workspace's fuzz tests share (the publisher's byte scanners, the viewer's catalog and
//! container): a seeded generator, so a failure replays exactly, and the run length,
//! `FUZZ_ITERATIONS` cases per target (a short default keeps `cargo test` quick).

/// Cases per target: `FUZZ_ITERATIONS` when set, else `default`.
pub fn iterations(default: u64) -> u64 {
    std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: a fixed seed gives the same cases on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Up to `max_len` arbitrary bytes.
    pub fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// `data` in pieces of random lengths (1 to `max` bytes; sometimes empty ones too).
    pub fn split<'a>(&mut self, mut data: &'a [u8], max: usize) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        while !data.is_empty() {
            let len = self.below(max + 1).min(data.len());
            let (piece, rest) = data.split_at(len);
            pieces.push(piece);
            data = rest;
        }
        pieces
    }

    /// `data` with a few bytes changed, inserted, removed or cut off.
    pub fn mutate(&mut self, mut data: Vec<u8>) -> Vec<u8> {
        for _ in 0..1 + self.below(4) {
            let at = self.below(data.len() + 1);
            match self.below(4) {
                0 if at < data.len() => data[at] = self.next_u64() as u8,
                1 => data.insert(at, self.next_u64() as u8),
                2 if at < data.len() => drop(data.remove(at)),
                _ => data.truncate(at),
            }
        }
        data
    }
}
