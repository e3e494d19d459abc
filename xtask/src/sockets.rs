//! The internet sockets a process holds and their local addresses, read from Linux's /proc:
//! `/proc/PID/fd` links name socket inodes (`socket:[INODE]`), and `/proc/net/{tcp,tcp6,udp,
//! udp6}` give each inode's local address and state. For checking what a server really listens
//! on, rather than what it was told to.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, ensure};

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// One socket: its protocol, local address, and whether it is a listening TCP socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub protocol: Protocol,
    pub local: SocketAddr,
    pub listening: bool,
}

/// `/proc/net/tcp`'s state code for LISTEN.
const TCP_LISTEN: &str = "0A";

/// Every TCP and UDP socket process `pid` holds open.
pub fn of_process(pid: u32) -> anyhow::Result<Vec<Socket>> {
    let inodes = socket_inodes(pid)?;
    let mut sockets = Vec::new();
    for (table, protocol) in [
        ("tcp", Protocol::Tcp),
        ("tcp6", Protocol::Tcp),
        ("udp", Protocol::Udp),
        ("udp6", Protocol::Udp),
    ] {
        let path = format!("/proc/net/{table}");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        sockets.extend(
            parse_table(&text, protocol)?
                .into_iter()
                .filter(|(inode, _)| inodes.contains(inode))
                .map(|(_, socket)| socket),
        );
    }
    Ok(sockets)
}

/// That every socket is on a loopback address, and that there are some: at least one UDP
/// socket and one listening TCP socket. The error names the sockets that are not.
pub fn check_loopback_only(sockets: &[Socket]) -> anyhow::Result<()> {
    let open: Vec<&Socket> = sockets
        .iter()
        .filter(|socket| !socket.local.ip().to_canonical().is_loopback())
        .collect();
    ensure!(
        open.is_empty(),
        "bound to non-loopback addresses: {open:?} (all sockets: {sockets:?})"
    );
    ensure!(
        sockets.iter().any(|s| s.protocol == Protocol::Udp),
        "no UDP socket at all: {sockets:?}"
    );
    ensure!(
        sockets
            .iter()
            .any(|s| s.protocol == Protocol::Tcp && s.listening),
        "no listening TCP socket at all: {sockets:?}"
    );
    Ok(())
}

/// The inodes of the sockets among process `pid`'s open files.
fn socket_inodes(pid: u32) -> anyhow::Result<HashSet<u64>> {
    let dir = format!("/proc/{pid}/fd");
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        // A file closed meanwhile has no link to read: skip it.
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        let inode: Option<u64> = target
            .to_str()
            .and_then(|t| t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok());
        inodes.extend(inode);
    }
    Ok(inodes)
}

/// The sockets in a `/proc/net/{tcp,tcp6,udp,udp6}` table, by inode.
fn parse_table(text: &str, protocol: Protocol) -> anyhow::Result<Vec<(u64, Socket)>> {
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let parsed = (|| {
                let local = parse_address(fields.get(1)?)?;
                let state = *fields.get(3)?;
                let inode = fields.get(9)?.parse().ok()?;
                let listening = protocol == Protocol::Tcp && state == TCP_LISTEN;
                Some((
                    inode,
                    Socket {
                        protocol,
                        local,
                        listening,
                    },
                ))
            })();
            parsed.with_context(|| format!("unreadable socket table line {line:?}"))
        })
        .collect()
}

/// `0100007F:1F90` (127.0.0.1:8080) or 32 hex digits and a port for IPv6: the address as the
/// kernel holds it, printed as 32-bit words in this machine's byte order.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = (0..address.len() / 8)
        .map(|i| u32::from_str_radix(address.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<Vec<u32>>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_ne_bytes()).collect();
    let ip: IpAddr = match address.len() {
        8 => Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).into(),
        32 => Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000096c31fa9 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000096c31fa9 20 4 30 10 -1
";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  12: 00000000000000000000000001000000:115B 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 5151 2 00000000c0ffee00 0
  13: 00000000000000000000000000000000:115C 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 5152 2 00000000c0ffee00 0
  14: 0000000000000000FFFF00000100007F:115D 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 5153 2 00000000c0ffee00 0
";

    fn socket(protocol: Protocol, local: &str, listening: bool) -> Socket {
        Socket {
            protocol,
            local: local.parse().unwrap(),
            listening,
        }
    }

    #[test]
    fn reads_addresses_states_and_inodes_from_the_kernels_tables() {
        assert_eq!(
            parse_table(TCP, Protocol::Tcp).unwrap(),
            [
                (4242, socket(Protocol::Tcp, "127.0.0.1:8080", true)),
                (4243, socket(Protocol::Tcp, "127.0.0.1:8080", false)),
            ]
        );
        assert_eq!(
            parse_table(UDP6, Protocol::Udp).unwrap(),
            [
                (5151, socket(Protocol::Udp, "[::1]:4443", false)),
                (5152, socket(Protocol::Udp, "[::]:4444", false)),
                (
                    5153,
                    socket(Protocol::Udp, "[::ffff:127.0.0.1]:4445", false)
                ),
            ]
        );
        assert!(parse_table("header\n 0: zz:1F90 0 0A\n", Protocol::Tcp).is_err());
    }

    #[test]
    fn loopback_only_means_every_socket_and_at_least_one_of_each_kind() {
        let quic = socket(Protocol::Udp, "[::1]:4443", false);
        let page = socket(Protocol::Tcp, "127.0.0.1:8080", true);
        let mapped = socket(Protocol::Tcp, "[::ffff:127.0.0.1]:8443", true);
        assert!(check_loopback_only(&[quic.clone(), page.clone(), mapped.clone()]).is_ok());
        let everywhere = socket(Protocol::Udp, "[::]:4443", false);
        let lan = socket(Protocol::Tcp, "192.168.1.5:8080", true);
        for open in [everywhere, lan] {
            let sockets = [quic.clone(), page.clone(), open];
            assert!(check_loopback_only(&sockets).is_err());
        }
        assert!(
            check_loopback_only(std::slice::from_ref(&quic)).is_err(),
            "no TCP"
        );
        assert!(
            check_loopback_only(std::slice::from_ref(&page)).is_err(),
            "no UDP"
        );
        let connection = socket(Protocol::Tcp, "127.0.0.1:8080", false);
        assert!(
            check_loopback_only(&[quic, connection]).is_err(),
            "no listener"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_this_process_own_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("[::]:0").unwrap();
        let sockets = of_process(std::process::id()).unwrap();
        let find = |addr: SocketAddr| sockets.iter().find(|s| s.local == addr).cloned();
        assert_eq!(
            find(listener.local_addr().unwrap()),
            Some(socket(
                Protocol::Tcp,
                &listener.local_addr().unwrap().to_string(),
                true
            ))
        );
        let udp_socket = find(udp.local_addr().unwrap()).expect("the UDP socket");
        assert_eq!(udp_socket.protocol, Protocol::Udp);
        assert!(check_loopback_only(&[udp_socket]).is_err());
    }
}
