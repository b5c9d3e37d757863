//! `bandwidth`: one EDT-style virtual-queue policer per (attachment,
//! direction) in `RATE` (see `murmuration_common::Policer`).

use murmuration_common::counter_index;

use crate::{maps::RATE, skb};

const NS_PER_SEC_BITS: u64 = 8 * 1_000_000_000;

/// Whether a frame of `len` bytes fits the port's rate in direction `dir`
/// (always, without a limit); a frame that fits is charged to the queue.
#[inline(always)]
pub fn admit(attach_id: u32, dir: u32, len: u32) -> bool {
    let Some(p) = RATE.get_ptr_mut(counter_index(attach_id, dir)) else {
        return true;
    };
    // SAFETY: `p` is a live array value pointer; racing CPUs can at worst
    // lose an update (a frame passes early), the value stays plain data.
    unsafe {
        let rate = (*p).rate_bps;
        if rate == 0 {
            return true;
        }
        let now = skb::mono_ns();
        let next = (*p).next_ns;
        let t = if next > now { next } else { now };
        if t - now > (*p).burst_ns {
            return false;
        }
        (*p).next_ns = t + u64::from(len) * NS_PER_SEC_BITS / rate;
    }
    true
}
