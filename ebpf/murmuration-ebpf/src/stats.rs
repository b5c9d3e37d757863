//! Counters and latency histograms (per-CPU, so plain increments are safe:
//! tc ingress runs in softirq context with BH disabled).

use aya_ebpf::programs::TcContext;
use murmuration_common::{
    counter_index, hist_index, HIST_BUCKETS, HIST_PROG, HIST_RX_TSTAMP, NUM_DROP_REASONS,
    SETTING_FLAGS, SETTING_F_NO_STATS,
};

use crate::{
    maps::{node_config, COUNTERS, LATENCY, SETTINGS},
    skb,
};

/// Whether forwarding counters and latency samples are on (the
/// `SETTING_F_NO_STATS` switch is clear).
#[inline(always)]
fn enabled() -> bool {
    SETTINGS.get(SETTING_FLAGS).map_or(true, |f| f & SETTING_F_NO_STATS == 0)
}

/// Program entry: the start time for the `prog` latency sample, 0 when
/// counting is off (no clock read; `record_*` then skip).
#[inline(always)]
pub fn start() -> u64 {
    if enabled() {
        skb::mono_ns()
    } else {
        0
    }
}

/// Counts one forwarded frame (unless counting is off).
#[inline(always)]
pub fn count_fwd(attach_id: u32, dir: u32, len: u32, ptp: bool, flood: bool) {
    if !enabled() {
        return;
    }
    let Some(c) = COUNTERS.get_ptr_mut(counter_index(attach_id, dir)) else {
        return;
    };
    // SAFETY: `c` points to this CPU's slot of a live map value; nothing
    // else on this CPU runs concurrently (softirq context).
    unsafe {
        (*c).packets += 1;
        (*c).bytes += u64::from(len);
        if flood {
            (*c).flood_packets += 1;
        }
        if ptp {
            (*c).ptp_packets += 1;
        }
    }
}

/// Counts one dropped frame.
#[inline(always)]
pub fn count_drop(attach_id: u32, dir: u32, reason: usize) {
    if reason >= NUM_DROP_REASONS {
        return;
    }
    let Some(c) = COUNTERS.get_ptr_mut(counter_index(attach_id, dir)) else {
        return;
    };
    // SAFETY: as in `count_fwd`; `reason` is bounds-checked above.
    unsafe { (*c).drops[reason] += 1 };
}

/// floor(log2(v)), 0 for v <= 1, clamped to the last bucket.
#[inline(always)]
fn log2_bucket(mut v: u64) -> usize {
    let mut r = 0usize;
    if v >= 1 << 32 {
        v >>= 32;
        r += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        r += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        r += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        r += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        r += 2;
    }
    if v >= 1 << 1 {
        r += 1;
    }
    if r >= HIST_BUCKETS {
        HIST_BUCKETS - 1
    } else {
        r
    }
}

#[inline(always)]
fn hist_add(slot: u32, ns: u64) {
    let Some(h) = LATENCY.get_ptr_mut(slot) else {
        return;
    };
    let b = log2_bucket(ns) & (HIST_BUCKETS - 1);
    // SAFETY: as in `count_fwd`; `b < HIST_BUCKETS` by the mask.
    unsafe {
        (*h).count += 1;
        (*h).sum_ns += ns;
        (*h).buckets[b] += 1;
    }
}

/// Records the time spent in this program since `t0` (HIST_PROG) for a
/// frame that is about to be handed on.
#[inline(always)]
pub fn record_prog(attach_id: u32, dir: u32, t0: u64) {
    if t0 == 0 {
        return;
    }
    let now = skb::mono_ns();
    hist_add(hist_index(attach_id, dir, HIST_PROG), now.wrapping_sub(t0));
}

/// Records the latency samples of a frame that is about to be handed on
/// (redirect): time spent in this program since `t0` (HIST_PROG) and, when
/// the skb carries a CLOCK_REALTIME RX timestamp, time since that
/// timestamp (HIST_RX_TSTAMP).
#[inline(always)]
pub fn record_latency(ctx: &TcContext, attach_id: u32, dir: u32, t0: u64) {
    if t0 == 0 {
        return;
    }
    record_prog(attach_id, dir, t0);
    let rx = skb::rx_tstamp_realtime(ctx);
    if rx == 0 {
        return;
    }
    let Some(node) = node_config() else {
        return;
    };
    let now_real = skb::tai_ns().wrapping_sub(node.tai_offset_ns);
    // A timestamp "in the future" means the clocks disagree (e.g. stale
    // tai_offset_ns after a leap second): skip rather than record garbage.
    if now_real > rx {
        hist_add(hist_index(attach_id, dir, HIST_RX_TSTAMP), now_real - rx);
    }
}
