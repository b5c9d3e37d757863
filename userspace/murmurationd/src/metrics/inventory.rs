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
    specs: &[CounterSpec],
) -> Result<(), std::fmt::Error> {
    for (suffix, help, unit, field) in specs {
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
        &COUNTERS,
    )?;
    attachment_vfs(s, enc)?;
    attachment_vlans(s, enc)
}

/// The counters of every vlan attachment's subinterface, read in the pod's
/// namespace, labelled with the attachment, the parent and the VLAN id.
fn attachment_vlans(s: &Snapshot, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let found: Vec<_> = s
        .attachments
        .iter()
        .filter_map(|a| {
            let v = a.vlan.as_ref()?;
            Some((a, v, v.id.to_string(), v.stats.as_ref()?))
        })
        .collect();
    let rows: Vec<Row<'_>> = found
        .iter()
        .map(|(a, v, id, stats)| {
            let labels = vec![
                ("network", Lv(a.network.as_str())),
                ("pod_namespace", Lv(a.pod_namespace.as_deref().unwrap_or(""))),
                ("pod_name", Lv(a.pod_name.as_deref().unwrap_or(""))),
                ("ifname", Lv(a.ifname.as_str())),
                ("master", Lv(v.master.as_str())),
                ("vlan", Lv(id.as_str())),
            ];
            (labels, *stats)
        })
        .collect();
    counter_rows(
        enc,
        "murmuration_attachment_vlan",
        "VLAN attachment's subinterface, read in the pod's namespace",
        &rows,
        &COUNTERS,
    )
}

/// The PF-reported counters of every sriov attachment's VF, labelled with
/// the attachment and the VF (pf, vf, pci, numa_node).
fn attachment_vfs(s: &Snapshot, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let found: Vec<_> = s
        .attachments
        .iter()
        .filter_map(|a| {
            let vf = a.vf.as_ref()?;
            let link = s.links.iter().find(|l| l.name == vf.pf)?;
            let stats = &link.vfs.iter().find(|v| v.vf == vf.index)?.stats;
            let numa = vf.numa_node.map_or_else(String::new, |n| n.to_string());
            Some((a, vf, vf.index.to_string(), numa, stats))
        })
        .collect();
    let rows: Vec<Row<'_>> = found
        .iter()
        .map(|(a, vf, index, numa, stats)| {
            let labels = vec![
                ("network", Lv(a.network.as_str())),
                ("pod_namespace", Lv(a.pod_namespace.as_deref().unwrap_or(""))),
                ("pod_name", Lv(a.pod_name.as_deref().unwrap_or(""))),
                ("ifname", Lv(a.ifname.as_str())),
                ("pf", Lv(vf.pf.as_str())),
                ("vf", Lv(index.as_str())),
                ("pci", Lv(vf.pci.as_str())),
                ("numa_node", Lv(numa.as_str())),
            ];
            (labels, *stats)
        })
        .collect();
    counter_rows(
        enc,
        "murmuration_attachment_vf",
        "SR-IOV attachment's VF as its PF reports it",
        &rows,
        &COUNTERS[..4], // packets and bytes; the PF reports drops per VF inconsistently
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
    counter_rows(enc, "murmuration_link", "Uplink, PF or VLAN link", &rows, &COUNTERS)?;
    let vf_ids: Vec<(&str, String, &crate::inventory::VfState)> = infra
        .iter()
        .flat_map(|l| l.vfs.iter().map(move |v| (l.name.as_str(), v.vf.to_string(), v)))
        .collect();
    let vf_rows: Vec<Row<'_>> = vf_ids
        .iter()
        .map(|(pf, id, v)| (vec![("pf", Lv(*pf)), ("vf", Lv(id.as_str()))], &v.stats))
        .collect();
    counter_rows(enc, "murmuration_vf", "SR-IOV VF as its PF reports it", &vf_rows, &COUNTERS)?;
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

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::inventory::attachments::AttachedVf;
    use crate::inventory::{AttachmentView, LinkView, VfState};
    use crate::inventory::{Evidence, HostSide, Liveness, NetnsPath};

    #[test]
    fn an_sriov_attachment_carries_its_vf_counters_with_pod_labels() {
        let stats = Counters {
            rx_packets: 3,
            tx_packets: 4,
            rx_bytes: 300,
            tx_bytes: 400,
            ..Counters::default()
        };
        let link = LinkView {
            name: "eth1".into(),
            vfs: vec![VfState { vf: 2, stats, ..VfState::default() }],
            ..LinkView::default()
        };
        let inv = Arc::new(Inventory::default());
        let mut snap = Snapshot { links: vec![link], ..Snapshot::default() };
        snap.attachments.push(AttachmentView {
            vf: Some(AttachedVf {
                pf: "eth1".into(),
                index: 2,
                pci: "0000:01:10.4".into(),
                numa_node: Some(0),
            }),
            key: "c@net1".into(),
            container_id: "c".into(),
            ifname: "net1".into(),
            network: "ran\"x".into(),
            mode: "sriov".into(),
            pod_namespace: Some("edge".into()),
            pod_name: Some("du-0".into()),
            host_ifname: None,
            netns: None,
            netns_present: None,
            evidence: Evidence { path: NetnsPath::Unrecorded, host: HostSide::Nothing },
            liveness: Liveness::Unjudged,
            host_link: None,
            host_stats: None,
            datapath: None,
            created_unix: 0,
            vlan: None,
        });
        inv.set(snap);
        let mut r = Registry::default();
        r.register_collector(Box::new(InventoryCollector(inv)));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).expect("encode");
        let labels = r#"{network="ran\"x",pod_namespace="edge",pod_name="du-0",ifname="net1",pf="eth1",vf="2",pci="0000:01:10.4",numa_node="0"}"#;
        for (name, v) in [
            ("rx_packets_total", 3),
            ("tx_packets_total", 4),
            ("rx_bytes_total", 300),
            ("tx_bytes_total", 400),
        ] {
            let line = format!("murmuration_attachment_vf_{name}{labels} {v}");
            assert!(out.contains(&line), "{line} missing:\n{out}");
        }
    }
}
