//! One direction of an impaired link, sans-IO: each packet goes in with the time it was sent and
//! its size, and comes out with its fate — delivered at a given time, or dropped and why. The
//! proxy ([`super::proxy`]) carries real datagrams through it; the tests drive it with time
//! passed in, deterministically (a seeded generator).
//!
//! In order, a packet meets: an outage (the link is down: lost), random loss (independent, or
//! bursty by a two-state Gilbert–Elliott chain), the bottleneck (a rate, which may change on a
//! schedule, behind a drop-tail queue whose size is said in time at the current rate: a packet
//! that would wait longer is dropped), then the path's one-way delay with jitter (each packet's
//! own, so packets may be reordered).

use std::time::Duration;

/// How packets are lost at random.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    None,
    /// Each packet independently, with this probability.
    Random(f64),
    /// A Gilbert–Elliott chain: in the bad state every packet is lost, in the good state none;
    /// each packet moves good → bad with `to_bad`, bad → good with `to_good`.
    Bursty {
        to_bad: f64,
        to_good: f64,
    },
}

impl Loss {
    /// Bursty loss losing `mean` of the packets in bursts of `burst` packets on average.
    pub fn bursty(mean: f64, burst: f64) -> Self {
        let to_good = 1.0 / burst.max(1.0);
        // The bad state's share is to_bad / (to_bad + to_good) = mean.
        let to_bad = mean * to_good / (1.0 - mean).max(f64::EPSILON);
        Loss::Bursty { to_bad, to_good }
    }
}

/// What a direction of the link does to packets.
#[derive(Clone, Debug, PartialEq)]
pub struct Impairment {
    /// One-way delay.
    pub delay: Duration,
    /// Each packet's delay is `delay` ± up to this (uniform), never below zero.
    pub jitter: Duration,
    pub loss: Loss,
    /// The bottleneck's rate in bits per second from each time on (`None`: no limit), sorted by
    /// time; empty for no limit at all.
    pub rate: Vec<(Duration, Option<u64>)>,
    /// The most a packet may wait in the bottleneck's queue.
    pub queue: Duration,
    /// When the link is down: (start, length).
    pub outages: Vec<(Duration, Duration)>,
}

impl Default for Impairment {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: Loss::None,
            rate: Vec::new(),
            queue: Duration::from_millis(100),
            outages: Vec::new(),
        }
    }
}

impl Impairment {
    /// The bottleneck's rate at `now`, bits per second.
    pub fn rate_at(&self, now: Duration) -> Option<u64> {
        self.rate
            .iter()
            .rev()
            .find(|(from, _)| *from <= now)
            .and_then(|(_, rate)| *rate)
    }

    fn down_at(&self, now: Duration) -> bool {
        self.outages
            .iter()
            .any(|(start, length)| (*start..*start + *length).contains(&now))
    }
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    Outage,
    Loss,
    /// The bottleneck's queue was full.
    Queue,
}

/// A packet's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Delivered at this time (since the link started).
    Delivered(Duration),
    Dropped(Drop),
}

/// What a direction did, for the summary the proxy prints.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub sent: u64,
    pub bytes: u64,
    pub outage: u64,
    pub lost: u64,
    pub queue_drops: u64,
    /// Time the delivered packets spent queued, in all.
    pub queued: Duration,
    pub delivered: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sent ({:.1} MB), {} delivered, {} lost, {} in outages, {} queue drops, mean \
             queue delay {:.1} ms",
            self.sent,
            self.bytes as f64 / 1e6,
            self.delivered,
            self.lost,
            self.outage,
            self.queue_drops,
            self.mean_queue_delay().as_secs_f64() * 1000.0
        )
    }
}

impl Counts {
    /// The delivered packets' mean wait in the queue.
    pub fn mean_queue_delay(&self) -> Duration {
        match self.delivered {
            0 => Duration::ZERO,
            n => self.queued / n as u32,
        }
    }
}

/// One direction of the link, with its state.
#[derive(Debug, Clone)]
pub struct Link {
    impairment: Impairment,
    random: Random,
    /// The Gilbert–Elliott chain is in its bad state.
    bad: bool,
    /// When the bottleneck has sent everything queued.
    free_at: Duration,
    pub counts: Counts,
}

impl Link {
    /// A link doing `impairment`, its random draws from `seed`.
    pub fn new(impairment: Impairment, seed: u64) -> Self {
        Self {
            impairment,
            random: Random(seed | 1),
            bad: false,
            free_at: Duration::ZERO,
            counts: Counts::default(),
        }
    }

    /// A packet of `bytes` bytes sent at `now`: its fate.
    pub fn send(&mut self, now: Duration, bytes: usize) -> Fate {
        let fate = self.fate(now, bytes);
        let counts = &mut self.counts;
        counts.sent += 1;
        counts.bytes += bytes as u64;
        match fate {
            Fate::Dropped(Drop::Outage) => counts.outage += 1,
            Fate::Dropped(Drop::Loss) => counts.lost += 1,
            Fate::Dropped(Drop::Queue) => counts.queue_drops += 1,
            Fate::Delivered(_) => counts.delivered += 1,
        }
        fate
    }

    fn fate(&mut self, now: Duration, bytes: usize) -> Fate {
        if self.impairment.down_at(now) {
            return Fate::Dropped(Drop::Outage);
        }
        if self.lost() {
            return Fate::Dropped(Drop::Loss);
        }
        let departure = match self.impairment.rate_at(now) {
            None => now,
            Some(bits_per_second) => {
                let start = self.free_at.max(now);
                let wait = start - now;
                if wait > self.impairment.queue {
                    return Fate::Dropped(Drop::Queue);
                }
                self.counts.queued += wait;
                let bits = bytes as f64 * 8.0;
                self.free_at = start + Duration::from_secs_f64(bits / bits_per_second as f64);
                self.free_at
            }
        };
        let jitter = self.impairment.jitter.as_secs_f64();
        let offset = (self.random.unit() * 2.0 - 1.0) * jitter;
        let delay = (self.impairment.delay.as_secs_f64() + offset).max(0.0);
        Fate::Delivered(departure + Duration::from_secs_f64(delay))
    }

    fn lost(&mut self) -> bool {
        match self.impairment.loss {
            Loss::None => false,
            Loss::Random(p) => self.random.unit() < p,
            Loss::Bursty { to_bad, to_good } => {
                let flip = if self.bad { to_good } else { to_bad };
                if self.random.unit() < flip {
                    self.bad = !self.bad;
                }
                self.bad
            }
        }
    }
}

/// A small deterministic generator (xorshift64*): the same seed, the same impairment.
#[derive(Debug, Clone)]
struct Random(u64);

impl Random {
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn at(fate: Fate) -> Duration {
        match fate {
            Fate::Delivered(at) => at,
            Fate::Dropped(why) => panic!("dropped: {why:?}"),
        }
    }

    #[test]
    fn delay_and_jitter_bound_each_packet_and_may_reorder_them() {
        let mut link = Link::new(
            Impairment {
                delay: 30 * MS,
                jitter: 15 * MS,
                ..Impairment::default()
            },
            7,
        );
        let mut reordered = 0;
        let mut last = Duration::ZERO;
        for n in 0..1000u32 {
            let sent = n * MS;
            let delivered = at(link.send(sent, 1200));
            let delay = delivered - sent;
            assert!((15 * MS..=45 * MS).contains(&delay), "{delay:?}");
            reordered += u32::from(delivered < last);
            last = last.max(delivered);
        }
        assert!(reordered > 100, "{reordered} reordered of 1000");
    }

    #[test]
    fn random_loss_loses_its_share() {
        let mut link = Link::new(
            Impairment {
                loss: Loss::Random(0.01),
                ..Impairment::default()
            },
            1,
        );
        for n in 0..100_000u32 {
            link.send(n * MS / 10, 1200);
        }
        let share = link.counts.lost as f64 / 1e5;
        assert!((0.009..0.011).contains(&share), "{share}");
    }

    #[test]
    fn bursty_loss_loses_its_share_in_bursts() {
        let mut link = Link::new(
            Impairment {
                loss: Loss::bursty(0.02, 4.0),
                ..Impairment::default()
            },
            3,
        );
        let (mut bursts, mut in_burst) = (0u32, false);
        for n in 0..200_000u32 {
            let lost = matches!(link.send(n * MS / 10, 1200), Fate::Dropped(Drop::Loss));
            bursts += u32::from(lost && !in_burst);
            in_burst = lost;
        }
        let lost = link.counts.lost as f64;
        assert!((0.018..0.022).contains(&(lost / 2e5)), "{}", lost / 2e5);
        let mean_burst = lost / f64::from(bursts);
        assert!((3.5..4.5).contains(&mean_burst), "bursts of {mean_burst}");
    }

    #[test]
    fn the_bottleneck_carries_its_rate_and_drops_what_its_queue_cannot_hold() {
        // 10 Mb/s offered into 3 Mb/s with a 100 ms queue, for 10 s.
        let mut link = Link::new(
            Impairment {
                rate: vec![(Duration::ZERO, Some(3_000_000))],
                queue: 100 * MS,
                ..Impairment::default()
            },
            1,
        );
        let packet = 1250; // 10 kbit
        let mut delivered_bits = 0.0;
        let mut latest = Duration::ZERO;
        for n in 0..10_000u32 {
            if let Fate::Delivered(at) = link.send(n * MS, packet) {
                delivered_bits += packet as f64 * 8.0;
                latest = latest.max(at);
            }
        }
        let rate = delivered_bits / latest.as_secs_f64();
        assert!((2.9e6..3.1e6).contains(&rate), "{rate}");
        assert!(link.counts.queue_drops > 6_000, "{:?}", link.counts);
        let waited = link.counts.mean_queue_delay();
        assert!((90 * MS..=100 * MS).contains(&waited), "{waited:?}");
    }

    #[test]
    fn a_rate_schedule_steps_and_an_outage_drops_everything_in_it() {
        let impairment = Impairment {
            rate: vec![
                (Duration::ZERO, Some(10_000_000)),
                (Duration::from_secs(10), Some(1_500_000)),
                (Duration::from_secs(25), None),
            ],
            outages: vec![(Duration::from_secs(30), Duration::from_secs(3))],
            ..Impairment::default()
        };
        assert_eq!(impairment.rate_at(Duration::from_secs(5)), Some(10_000_000));
        assert_eq!(impairment.rate_at(Duration::from_secs(12)), Some(1_500_000));
        assert_eq!(impairment.rate_at(Duration::from_secs(26)), None);
        let mut link = Link::new(impairment, 1);
        assert_eq!(
            link.send(Duration::from_secs(31), 100),
            Fate::Dropped(Drop::Outage)
        );
        assert_eq!(
            link.send(Duration::from_secs(33), 100),
            Fate::Delivered(Duration::from_secs(33))
        );
    }
}
