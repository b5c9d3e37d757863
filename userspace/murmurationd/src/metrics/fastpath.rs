//! Per-attachment fast-path metrics, read at scrape time from the pinned
//! eBPF maps of each attachment's uplink (`<pin_root>/<uplink>`, from the
//! attachment's record) through the core `datapath::Reader`. Series are
//! bounded by the attachments on the node times `direction` (2) and `reason`
//! (the datapath's fixed drop reasons).

use super::label::Lv;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use murmuration_core::datapath::common::{Counters as DirCounters, DROP_REASON_NAMES};
use murmuration_core::datapath::{Histogram, PortCounters, PortLatency, Reader};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Unit;

use super::Labels;
use crate::inventory::{AttachmentView, Inventory};

/// Histogram bounds exported: 2^k ns for k in this range (256 ns .. 16.8 ms);
/// the eBPF buckets below and above are folded into the first and `+Inf`.
const LE_LOG2_NS: std::ops::RangeInclusive<usize> = 8..=24;
const DIRECTIONS: [&str; 2] = ["to_pod", "from_pod"];

#[derive(Debug)]
pub struct FastPathCollector {
    pub inventory: Arc<Inventory>,
    /// `murmurationd_task_errors_total`, for maps that cannot be read.
    pub errors: Family<Labels, Counter>,
}

/// One attachment's readings.
struct Port<'a> {
    view: &'a AttachmentView,
    counters: PortCounters,
    latency: PortLatency,
}

type Lbl<'a> = Vec<(&'static str, Lv<&'a str>)>;

impl Port<'_> {
    fn labels(&self, dir: usize) -> Lbl<'_> {
        let a = self.view;
        vec![
            ("network", Lv(a.network.as_str())),
            ("pod_namespace", Lv(a.pod_namespace.as_deref().unwrap_or(""))),
            ("pod_name", Lv(a.pod_name.as_deref().unwrap_or(""))),
            ("ifname", Lv(a.ifname.as_str())),
            ("direction", Lv(DIRECTIONS[dir])),
        ]
    }

    fn dir(&self, dir: usize) -> &DirCounters {
        if dir == 0 { &self.counters.to_pod } else { &self.counters.from_pod }
    }
}

impl FastPathCollector {
    /// Reads every attachment with a fast-path port; one reader per uplink.
    fn read<'a>(&self, attachments: &'a [AttachmentView]) -> Vec<Port<'a>> {
        let mut by_dir: BTreeMap<PathBuf, Vec<&AttachmentView>> = BTreeMap::new();
        for a in attachments {
            if let Some(d) = &a.datapath {
                by_dir.entry(d.pin_root.join(&d.uplink)).or_default().push(a);
            }
        }
        let mut ports = Vec::new();
        for (dir, views) in by_dir {
            let reader = match Reader::open(&dir) {
                Ok(r) => r,
                Err(e) => {
                    self.error(&dir, &e);
                    continue;
                }
            };
            for view in views {
                let Some(id) = view.datapath.as_ref().map(|d| d.attach_id) else { continue };
                match reader.counters(id).and_then(|c| Ok((c, reader.latency(id)?))) {
                    Ok((counters, latency)) => ports.push(Port { view, counters, latency }),
                    Err(e) => self.error(&dir, &e),
                }
            }
        }
        ports
    }

    fn error(&self, dir: &std::path::Path, e: &dyn std::error::Error) {
        tracing::debug!(pins = %dir.display(), error = %crate::chain(e), "fast-path maps unreadable");
        self.errors.get_or_create(&vec![("task", Lv::from("fastpath".to_owned()))]).inc();
    }
}

/// (name, help, field) of the per-direction packet counters.
type CounterSpec = (&'static str, &'static str, fn(&DirCounters) -> u64);

const COUNTERS: [CounterSpec; 3] = [
    ("murmuration_fastpath_packets", "Frames the fast path forwarded, by direction", |c| c.packets),
    ("murmuration_fastpath_flood_packets", "Frames the fast path flooded to a VLAN", |c| {
        c.flood_packets
    }),
    ("murmuration_fastpath_ptp_packets", "PTP frames the fast path handled", |c| c.ptp_packets),
];

fn encode_counters(enc: &mut DescriptorEncoder, ports: &[Port<'_>]) -> Result<(), std::fmt::Error> {
    for (name, help, field) in COUNTERS {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for p in ports {
            for d in 0..2 {
                ConstCounter::new(field(p.dir(d))).encode(m.encode_family(&p.labels(d))?)?;
            }
        }
    }
    let help = "Bytes the fast path forwarded, by direction";
    let mut m = enc.encode_descriptor(
        "murmuration_fastpath",
        help,
        Some(&Unit::Bytes),
        MetricType::Counter,
    )?;
    for p in ports {
        for d in 0..2 {
            ConstCounter::new(p.dir(d).bytes).encode(m.encode_family(&p.labels(d))?)?;
        }
    }
    let help = "Frames the fast path dropped, by direction and reason";
    let mut m = enc.encode_descriptor(
        "murmuration_fastpath_dropped_packets",
        help,
        None,
        MetricType::Counter,
    )?;
    for p in ports {
        for d in 0..2 {
            for (reason, n) in DROP_REASON_NAMES.iter().zip(p.dir(d).drops) {
                let mut labels = p.labels(d);
                labels.push(("reason", Lv(reason)));
                ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
            }
        }
    }
    Ok(())
}

/// A log2-ns eBPF histogram as (non-cumulative buckets, count, sum seconds)
/// with the bounds of [`LE_LOG2_NS`] and a last `+Inf` (`f64::MAX`) bucket.
/// eBPF bucket `i` holds `[2^i, 2^(i+1))` ns, so it lies under `le = 2^k` ns
/// exactly when `i < k`.
pub fn prometheus_buckets(h: &Histogram) -> (Vec<(f64, u64)>, u64, f64) {
    let mut out = Vec::with_capacity(LE_LOG2_NS.count() + 1);
    let mut next = 0;
    for k in LE_LOG2_NS {
        let n: u64 = h.buckets[next..k].iter().sum();
        out.push(((1u64 << k) as f64 / 1e9, n));
        next = k;
    }
    out.push((f64::MAX, h.buckets[next..].iter().sum()));
    let count = out.iter().map(|(_, n)| n).sum();
    (out, count, h.sum_ns as f64 / 1e9)
}

fn encode_histograms(
    enc: &mut DescriptorEncoder,
    ports: &[Port<'_>],
) -> Result<(), std::fmt::Error> {
    type Pick = fn(&PortLatency, usize) -> &Histogram;
    let specs: [(&str, &str, Pick); 2] = [
        (
            "murmuration_fastpath_latency",
            "Fast-path time from program entry to redirect, by direction",
            |l, d| &l.prog[d],
        ),
        (
            "murmuration_fastpath_rx_latency",
            "Time from the kernel's RX timestamp to the fast path's redirect, by direction",
            |l, d| &l.rx_tstamp[d],
        ),
    ];
    for (name, help, pick) in specs {
        let mut m =
            enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        for p in ports {
            for d in 0..2 {
                let (buckets, count, sum) = prometheus_buckets(pick(&p.latency, d));
                m.encode_family(&p.labels(d))?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
    }
    Ok(())
}

impl Collector for FastPathCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.inventory.get();
        let ports = self.read(&snapshot.attachments);
        encode_counters(&mut enc, &ports)?;
        encode_histograms(&mut enc, &ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebpf_buckets_fold_into_microsecond_scale_bounds() {
        let mut h = Histogram::default();
        h.buckets[3] = 2; // [8, 16) ns: under the first bound (256 ns)
        h.buckets[7] = 1; // [128, 256) ns: still under 256 ns
        h.buckets[8] = 4; // [256, 512) ns: under 512 ns
        h.buckets[23] = 5; // [8.4, 16.8) ms: under the last bound
        h.buckets[24] = 6; // beyond: +Inf
        h.buckets[31] = 7;
        h.sum_ns = 3_000_000_000;
        let (b, count, sum) = prometheus_buckets(&h);
        assert_eq!(b.len(), 18);
        assert_eq!(b[0], (256e-9, 3));
        assert_eq!(b[1], (512e-9, 4));
        assert_eq!(b[16], ((1u64 << 24) as f64 / 1e9, 5));
        assert_eq!(b[17], (f64::MAX, 13));
        assert_eq!(count, 25);
        assert!((sum - 3.0).abs() < 1e-12);
    }
}
