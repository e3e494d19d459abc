//! The named network conditions, the same in the tests and the bench. RTT is split evenly into
//! the two one-way delays; jitter, loss and the rate apply to the direction the table says
//! (down: relay → viewer; `uplink`'s: publisher → relay). Queues hold 100 ms at the rate, a
//! typical home router's buffer under load. The figures are issue #20's table.

use std::time::Duration;

use super::link::{Impairment, Loss};

/// Every profile's name, in the order `--help` lists them.
pub const NAMES: [&str; 8] = [
    "lan",
    "cable",
    "wifi",
    "lte",
    "congested",
    "drop",
    "outage",
    "uplink",
];

/// Whose path to the relay a profile is: the client the proxy stands in front of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Viewer,
    Publisher,
}

/// One direction per side of a proxied path.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Towards the relay's client (the viewer's download; the publisher's ACKs).
    pub down: Impairment,
    /// Towards the relay (the viewer's ACKs; the publisher's upload).
    pub up: Impairment,
    pub side: Side,
}

/// The profile called `name`.
pub fn named(name: &str) -> Option<Profile> {
    let ms = Duration::from_millis;
    let mbps = |rate: f64| Some((rate * 1e6) as u64);
    let queue = ms(100);
    // A path of `rtt` with `jitter` both ways, `loss` and `rate` downwards.
    let path = |rtt: u64, jitter: u64, loss: Loss, rate: Vec<(Duration, Option<u64>)>| {
        let one_way = Impairment {
            delay: ms(rtt) / 2,
            jitter: ms(jitter),
            queue,
            ..Impairment::default()
        };
        Profile {
            down: Impairment {
                loss,
                rate,
                ..one_way.clone()
            },
            up: one_way,
            side: Side::Viewer,
        }
    };
    let from_start = |rate: f64| vec![(Duration::ZERO, mbps(rate))];
    Some(match name {
        "lan" => path(1, 0, Loss::None, Vec::new()),
        "cable" => path(30, 2, Loss::Random(0.001), from_start(50.0)),
        "wifi" => path(60, 15, Loss::Random(0.01), from_start(20.0)),
        "lte" => path(90, 25, Loss::bursty(0.02, 3.0), from_start(8.0)),
        "congested" => path(50, 5, Loss::None, from_start(3.0)),
        "drop" => path(
            40,
            2,
            Loss::None,
            vec![
                (Duration::ZERO, mbps(10.0)),
                (Duration::from_secs(10), mbps(1.5)),
                (Duration::from_secs(25), mbps(10.0)),
            ],
        ),
        "outage" => {
            let mut outage = path(40, 2, Loss::None, Vec::new());
            let down = vec![(Duration::from_secs(10), Duration::from_secs(3))];
            outage.down.outages = down.clone();
            outage.up.outages = down;
            outage
        }
        "uplink" => {
            // The publisher's side: its upload (towards the relay) is the narrow one.
            let mut uplink = path(40, 2, Loss::None, Vec::new());
            uplink.up.loss = Loss::Random(0.005);
            uplink.up.rate = from_start(3.0);
            uplink.side = Side::Publisher;
            uplink
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_profile_and_their_rtts_are_the_tables() {
        let rtt = |name: &str| {
            let profile = named(name).expect(name);
            (profile.down.delay + profile.up.delay).as_millis()
        };
        assert!(NAMES.iter().all(|name| named(name).is_some()));
        assert_eq!(NAMES.map(rtt), [1, 30, 60, 90, 50, 40, 40, 40]);
        assert!(named("moon").is_none());
    }

    #[test]
    fn limits_sit_on_the_side_the_table_says() {
        let wifi = named("wifi").unwrap();
        assert_eq!(wifi.down.rate_at(Duration::ZERO), Some(20_000_000));
        assert_eq!(wifi.up.rate_at(Duration::ZERO), None);
        let uplink = named("uplink").unwrap();
        assert_eq!(uplink.up.rate_at(Duration::ZERO), Some(3_000_000));
        assert_eq!(uplink.down.rate_at(Duration::ZERO), None);
        let drop = named("drop").unwrap();
        assert_eq!(drop.down.rate_at(Duration::from_secs(12)), Some(1_500_000));
        assert_eq!(drop.down.rate_at(Duration::from_secs(30)), Some(10_000_000));
        let outage = named("outage").unwrap();
        assert_eq!(outage.down.outages, outage.up.outages);
        let publisher = NAMES.map(|name| named(name).unwrap().side == Side::Publisher);
        assert_eq!(publisher, NAMES.map(|name| name == "uplink"));
    }
}
