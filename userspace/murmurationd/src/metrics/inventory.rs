//! Metrics rendered from the inventory snapshot at scrape time: per
//! attachment (bounded by the attachments on this node), per infrastructure
//! link and per VF (bounded by the node's hardware).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use super::label::Lv;
use crate::inventory::{Counters, Inventory, Snapshot};

#[derive(Debug)]
pub struct InventoryCollector(pub Arc<Inventory>);

type Row<'a> = (Vec<(&'static str, Lv<&'a str>)>, &'a Counters);

/// (suffix, help, unit, field) of each exported counter.
type CounterSpec = (&'static str, &'static str, Option<Unit>, fn(&Counters) -> u64);

const COUNTERS: [CounterSpec; 6] = [
    ("rx_packets", "packets received", None, |c| c.rx_packets),
    ("tx_packets", "packets sent", None, |c| c.tx_packets),
    ("rx", "bytes received", Some(Unit::Bytes), |c| c.rx_bytes),
    ("tx", "bytes sent", Some(Unit::Bytes), |c| c.tx_bytes),
    ("rx_dropped_packets", "received packets dropped", None, |c| c.rx_dropped),
    ("tx_dropped_packets", "packets dropped on send", None, |c| c.tx_dropped),
];

fn counter_rows(
    enc: &mut DescriptorEncoder,
    prefix: &str,
    what: &str,
    rows: &[Row<'_>],
) -> Result<(), std::fmt::Error> {
    for (suffix, help, unit, field) in &COUNTERS {
        let name = format!("{prefix}_{suffix}");
        let help = format!("{what}: {help}");
        let mut m = enc.encode_descriptor(&name, &help, unit.as_ref(), MetricType::Counter)?;
        for (labels, c) in rows {
            ConstCounter::new(field(c)).encode(m.encode_family(labels)?)?;
        }
    }
    Ok(())
}

fn gauge<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl Iterator<Item = (Vec<(&'static str, Lv<&'a str>)>, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn attachments(s: &Snapshot, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let mut by_mode: Vec<(&str, i64)> = vec![("veth", 0), ("sriov", 0), ("vlan", 0)];
    for a in &s.attachments {
        if let Some(slot) = by_mode.iter_mut().find(|(m, _)| *m == a.mode) {
            slot.1 += 1;
        }
    }
    gauge(
        enc,
        "murmuration_attachments",
        "Attachments recorded by the plugin, by mode",
        by_mode.into_iter().map(|(m, n)| (vec![("mode", Lv(m))], n)),
    )?;
    let rows: Vec<Row<'_>> = s
        .attachments
        .iter()
        .filter_map(|a| {
            let labels = vec![
                ("network", Lv(a.network.as_str())),
                ("pod_namespace", Lv(a.pod_namespace.as_deref().unwrap_or(""))),
                ("pod_name", Lv(a.pod_name.as_deref().unwrap_or(""))),
                ("ifname", Lv(a.ifname.as_str())),
            ];
            Some((labels, a.host_stats.as_ref()?))
        })
        .collect();
    counter_rows(
        enc,
        "murmuration_attachment",
        "Pod side of an attachment (host-end counters mirrored)",
        &rows,
    )
}

fn links(s: &Snapshot, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let infra: Vec<_> = s.links.iter().filter(|l| l.is_infrastructure()).collect();
    gauge(
        enc,
        "murmuration_link_up",
        "1 when an uplink, PF or VLAN link is operationally up",
        infra.iter().map(|l| {
            (
                vec![("ifname", Lv(l.name.as_str()))],
                i64::from(l.oper_state.eq_ignore_ascii_case("up")),
            )
        }),
    )?;
    let rows: Vec<Row<'_>> =
        infra.iter().map(|l| (vec![("ifname", Lv(l.name.as_str()))], &l.stats)).collect();
    counter_rows(enc, "murmuration_link", "Uplink, PF or VLAN link", &rows)?;
    let vf_ids: Vec<(&str, String, &crate::inventory::VfState)> = infra
        .iter()
        .flat_map(|l| l.vfs.iter().map(move |v| (l.name.as_str(), v.vf.to_string(), v)))
        .collect();
    let vf_rows: Vec<Row<'_>> = vf_ids
        .iter()
        .map(|(pf, id, v)| (vec![("pf", Lv(*pf)), ("vf", Lv(id.as_str()))], &v.stats))
        .collect();
    counter_rows(enc, "murmuration_vf", "SR-IOV VF as its PF reports it", &vf_rows)?;
    gauge(
        enc,
        "murmuration_vf_vlan",
        "VLAN ID the PF enforces on a VF (0: none)",
        vf_ids
            .iter()
            .map(|(pf, id, v)| (vec![("pf", Lv(*pf)), ("vf", Lv(id.as_str()))], i64::from(v.vlan))),
    )
}

impl Collector for InventoryCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.get();
        attachments(&s, &mut enc)?;
        links(&s, &mut enc)?;
        let age_ms = crate::unix_ms().saturating_sub(s.updated_unix_ms);
        let m = enc.encode_descriptor(
            "murmurationd_inventory_age",
            "Time since the inventory was last re-read",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        ConstGauge::new(age_ms as f64 / 1000.0).encode(m)?;
        Ok(())
    }
}
