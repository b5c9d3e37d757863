//! SO_TIMESTAMPING control messages, decoded from the bytes `recvmsg(2)`
//! wrote into its control buffer.
//!
//! Pure and allocation-free: the daemon's latency prober calls [`parse`] on
//! every reply and every error-queue message, so it is benchmarked
//! (`timestamp_cmsg_parse` in `bench/benches/hot_paths.rs`) and fuzzed with
//! proptest. The layout is the kernel's (`include/linux/socket.h`,
//! `Documentation/networking/timestamping.rst`):
//!
//! - each message is a `cmsghdr` (`size_t cmsg_len; int cmsg_level; int
//!   cmsg_type`), its data at `CMSG_ALIGN(sizeof(cmsghdr))`, the next one at
//!   `CMSG_ALIGN(cmsg_len)`; alignment is `sizeof(size_t)`;
//! - `SOL_SOCKET`/`SCM_TIMESTAMPING` carries three timespecs: software,
//!   (deprecated, zero), raw hardware; `SCM_TIMESTAMPING_NEW` the same with
//!   64-bit `__kernel_timespec`s;
//! - a TX timestamp read from the error queue comes with `IP_RECVERR` /
//!   `IPV6_RECVERR` carrying a `sock_extended_err` whose origin is
//!   `SO_EE_ORIGIN_TIMESTAMPING` and whose `ee_data` is the packet's key.
//!
//! A malformed buffer never panics: decoding stops at the first message that
//! does not fit.

const WORD: usize = std::mem::size_of::<usize>();
/// `CMSG_ALIGN(sizeof(struct cmsghdr))`: a `size_t` and two `int`s.
const HEADER: usize = align(WORD + 8);
/// `SCM_TIMESTAMPING_NEW` (not in every libc release for every target).
const SCM_TIMESTAMPING_NEW: i32 = 65;
/// `SO_EE_ORIGIN_TIMESTAMPING`.
const ORIGIN_TIMESTAMPING: u8 = 4;
/// `sizeof(struct sock_extended_err)`.
const EXTENDED_ERR_LEN: usize = 16;

const fn align(n: usize) -> usize {
    (n + WORD - 1) & !(WORD - 1)
}

/// The timestamps of one packet in nanoseconds since the epoch of their
/// clock; `None` when the kernel did not deliver that one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamps {
    /// Taken by the kernel, in `CLOCK_REALTIME`.
    pub software: Option<i128>,
    /// Taken by the NIC, in its PTP hardware clock's time (raw, not converted).
    pub hardware: Option<i128>,
}

impl Stamps {
    /// Fills what `self` lacks from `other` (TX stamps may arrive one per message).
    pub fn merge(self, other: Self) -> Self {
        Self {
            software: self.software.or(other.software),
            hardware: self.hardware.or(other.hardware),
        }
    }
}

/// What one control buffer said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    pub stamps: Stamps,
    /// The packet key (`SOF_TIMESTAMPING_OPT_ID`'s counter, or 0 without it)
    /// when this was a TX timestamp from the error queue.
    pub tx_key: Option<u32>,
}

/// Decodes the first `len` bytes of a control buffer (`msg_controllen`).
pub fn parse(control: &[u8]) -> Control {
    let mut out = Control::default();
    let mut rest = control;
    while let Some((level, kind, data, next)) = next_message(rest) {
        apply(&mut out, level, kind, data);
        rest = next;
    }
    out
}

/// One message: its level, type, data and the bytes after it.
fn next_message(buf: &[u8]) -> Option<(i32, i32, &[u8], &[u8])> {
    let len = usize::from_ne_bytes(buf.get(..WORD)?.try_into().ok()?);
    let level = i32::from_ne_bytes(buf.get(WORD..WORD + 4)?.try_into().ok()?);
    let kind = i32::from_ne_bytes(buf.get(WORD + 4..WORD + 8)?.try_into().ok()?);
    let data = buf.get(HEADER..len)?;
    let next = buf.get(align(len)..).unwrap_or_default();
    Some((level, kind, data, next))
}

fn apply(out: &mut Control, level: i32, kind: i32, data: &[u8]) {
    match (level, kind) {
        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING) => {
            // The old layout's fields are `struct timespec`'s: half of it each.
            out.stamps =
                out.stamps.merge(timestamps(data, std::mem::size_of::<libc::timespec>() / 2));
        }
        (libc::SOL_SOCKET, SCM_TIMESTAMPING_NEW) => {
            out.stamps = out.stamps.merge(timestamps(data, 8));
        }
        (libc::SOL_IP, libc::IP_RECVERR) | (libc::SOL_IPV6, libc::IPV6_RECVERR) => {
            out.tx_key = out.tx_key.or(timestamping_key(data));
        }
        _ => {}
    }
}

/// Three timespecs of `word`-byte fields: [0] software, [2] raw hardware.
fn timestamps(data: &[u8], word: usize) -> Stamps {
    let one = |i: usize| timespec_ns(data.get(i * 2 * word..(i + 1) * 2 * word)?, word);
    Stamps { software: one(0), hardware: one(2) }
}

/// A timespec as nanoseconds; a zero timespec means "not taken".
fn timespec_ns(b: &[u8], word: usize) -> Option<i128> {
    let field = |f: &[u8]| -> Option<i128> {
        Some(match word {
            4 => i128::from(i32::from_ne_bytes(f.try_into().ok()?)),
            _ => i128::from(i64::from_ne_bytes(f.try_into().ok()?)),
        })
    };
    let ns = field(b.get(..word)?)? * 1_000_000_000 + field(b.get(word..2 * word)?)?;
    (ns != 0).then_some(ns)
}

/// `ee_data` of a `sock_extended_err` that reports a timestamp (`ee_errno`
/// ENOMSG, origin `SO_EE_ORIGIN_TIMESTAMPING`); `None` for a real error.
fn timestamping_key(data: &[u8]) -> Option<u32> {
    let e = data.get(..EXTENDED_ERR_LEN)?;
    let errno = u32::from_ne_bytes(e[0..4].try_into().ok()?);
    let origin = e[4];
    let key = u32::from_ne_bytes(e[12..16].try_into().ok()?);
    (errno == libc::ENOMSG as u32 && origin == ORIGIN_TIMESTAMPING).then_some(key)
}

/// Control-buffer builders: test input and benchmark input, laid out as
/// the kernel writes them.
pub mod encode {
    use super::{HEADER, SCM_TIMESTAMPING_NEW, align};

    /// Appends one control message.
    pub fn message(buf: &mut Vec<u8>, level: i32, kind: i32, data: &[u8]) {
        let len = HEADER + data.len();
        let start = buf.len();
        buf.extend_from_slice(&len.to_ne_bytes());
        buf.extend_from_slice(&level.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.resize(start + HEADER, 0);
        buf.extend_from_slice(data);
        buf.resize(start + align(len), 0);
    }

    /// `SCM_TIMESTAMPING_NEW` with the software and raw hardware stamps
    /// (nanoseconds; 0 for "not taken").
    pub fn timestamping_new(buf: &mut Vec<u8>, software: i64, hardware: i64) {
        let mut data = Vec::with_capacity(48);
        for ns in [software, 0, hardware] {
            data.extend_from_slice(&ns.div_euclid(1_000_000_000).to_ne_bytes());
            data.extend_from_slice(&ns.rem_euclid(1_000_000_000).to_ne_bytes());
        }
        message(buf, libc::SOL_SOCKET, SCM_TIMESTAMPING_NEW, &data);
    }

    /// `IP_RECVERR` with a timestamping `sock_extended_err` for `key`.
    pub fn tx_error(buf: &mut Vec<u8>, key: u32) {
        let mut data = Vec::with_capacity(32);
        data.extend_from_slice(&(libc::ENOMSG as u32).to_ne_bytes());
        data.extend_from_slice(&[super::ORIGIN_TIMESTAMPING, 0, 0, 0]);
        data.extend_from_slice(&0u32.to_ne_bytes()); // ee_info: SCM_TSTAMP_SND
        data.extend_from_slice(&key.to_ne_bytes());
        data.resize(32, 0); // the offender address that follows it
        message(buf, libc::SOL_IP, libc::IP_RECVERR, &data);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What a 64-bit kernel writes for a software RX timestamp of
    /// 1700000000.123456789 s: `cmsg_len` 64, SOL_SOCKET (1),
    /// SCM_TIMESTAMPING (37), then three old-style timespecs.
    #[cfg(all(target_pointer_width = "64", target_endian = "little"))]
    #[rustfmt::skip]
    const KERNEL_RX_SOFTWARE: [u8; 64] = [
        0x40, 0, 0, 0, 0, 0, 0, 0,  0x01, 0, 0, 0,  0x25, 0, 0, 0,
        0x00, 0xf1, 0x53, 0x65, 0, 0, 0, 0,  0x15, 0xcd, 0x5b, 0x07, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    #[cfg(all(target_pointer_width = "64", target_endian = "little"))]
    fn decodes_the_kernels_bytes() {
        let c = parse(&KERNEL_RX_SOFTWARE);
        assert_eq!(c.stamps.software, Some(1_700_000_000_123_456_789));
        assert_eq!(c.stamps.hardware, None);
        assert_eq!(c.tx_key, None);
        let mut built = Vec::new();
        encode::message(&mut built, libc::SOL_SOCKET, libc::SCM_TIMESTAMPING, &[0; 48]);
        assert_eq!(built[..16], KERNEL_RX_SOFTWARE[..16], "the encoder's header layout");
    }

    #[test]
    fn decodes_tx_error_queue_messages() {
        let mut buf = Vec::new();
        encode::timestamping_new(&mut buf, 0, 5_000_000_007);
        encode::tx_error(&mut buf, 42);
        let c = parse(&buf);
        assert_eq!(c.stamps, Stamps { software: None, hardware: Some(5_000_000_007) });
        assert_eq!(c.tx_key, Some(42));
    }

    #[test]
    fn a_real_error_is_not_a_timestamp() {
        let mut buf = Vec::new();
        let mut data = (libc::EHOSTUNREACH as u32).to_ne_bytes().to_vec();
        data.extend_from_slice(&[2, 0, 0, 0]); // SO_EE_ORIGIN_ICMP
        data.resize(32, 0);
        encode::message(&mut buf, libc::SOL_IP, libc::IP_RECVERR, &data);
        assert_eq!(parse(&buf), Control::default());
    }

    #[test]
    fn unknown_messages_are_skipped_and_truncation_stops_decoding() {
        let mut buf = Vec::new();
        encode::message(&mut buf, libc::SOL_IP, libc::IP_TTL, &64i32.to_ne_bytes());
        encode::timestamping_new(&mut buf, 1_000, 0);
        assert_eq!(parse(&buf).stamps.software, Some(1_000), "after an unknown message");
        assert_eq!(parse(&buf[..buf.len() - 1]).stamps.software, None, "cut short");
        assert_eq!(parse(&[]), Control::default());
    }

    #[test]
    fn tx_stamps_merge_across_messages() {
        let sw = Stamps { software: Some(5), hardware: None };
        let hw = Stamps { software: None, hardware: Some(7) };
        assert_eq!(sw.merge(hw), Stamps { software: Some(5), hardware: Some(7) });
        let first = Stamps { software: Some(1), hardware: None };
        assert_eq!(first.merge(sw), first, "the first one wins");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn encoded_stamps_round_trip(sw in 1i64..i64::MAX / 4, hw in 0i64..i64::MAX / 4) {
            let mut buf = Vec::new();
            encode::timestamping_new(&mut buf, sw, hw);
            let c = parse(&buf);
            prop_assert_eq!(c.stamps.software, Some(i128::from(sw)));
            prop_assert_eq!(c.stamps.hardware, (hw != 0).then_some(i128::from(hw)));
        }
    }
}
