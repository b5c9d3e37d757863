//! Drift of `vlan` attachments: the subinterface in the pod's namespace
//! (read there within [`podlink::TIMEOUT`]) compared with what ADD created
//! and reported: its VLAN id and protocol and its parent from the recorded
//! config, its MAC and MTU from the recorded result. A namespace that is
//! gone, or does not answer in time, or a link that is no longer there, is
//! not drift: the cleaner and CHECK judge those. Never repaired: the
//! subinterface is the pod's own interface (a pod with `NET_ADMIN` may set
//! its MTU or MAC on purpose), and its id, protocol and parent cannot be
//! changed on a live link; recreating it would drop the pod's addresses
//! and routes under it.

use murmuration_core::cni::config::{NetConf, VlanProto};
use murmuration_core::netlink::Netlink;
use murmuration_core::state::Record;

use super::{DriftKey, key};
use crate::inventory::attachments::vlan_of;
use crate::inventory::links::LinkView;
use crate::inventory::podlink::{self, PodLink, Query};

/// What the plugin created for a vlan attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanWant {
    pub master: String,
    pub id: u16,
    /// `802.1q` or `802.1ad`, as [`LinkView::vlan_proto`] spells it.
    pub proto: &'static str,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
}

/// The recorded state of a completed vlan attachment of this boot.
pub fn wanted(rec: &Record) -> Option<VlanWant> {
    let (master, id) = vlan_of(rec)?;
    let conf = NetConf::parse(rec.config.get().as_bytes()).ok()?;
    let proto = match conf.props.proto.unwrap_or(VlanProto::Dot1Q) {
        VlanProto::Dot1Q => "802.1q",
        VlanProto::Dot1Ad => "802.1ad",
    };
    let result = rec.result.as_ref()?;
    let iface =
        result.interfaces.iter().find(|i| i.sandbox.is_some() && i.name == rec.ifname.as_ref());
    Some(VlanWant {
        master,
        id,
        proto,
        mac: iface.and_then(|i| i.mac).map(|m| m.to_string()),
        mtu: iface.and_then(|i| i.mtu),
    })
}

/// The fields of `want` that the pod's link `now` does not have;
/// `master_index` is the recorded parent's index in the host namespace.
pub fn drifted(want: &VlanWant, now: &LinkView, master_index: Option<u32>) -> Vec<&'static str> {
    if now.kind.as_deref() != Some("vlan") {
        return vec!["master"]; // not a VLAN at all any more
    }
    let mut out = Vec::new();
    if now.vlan_id != Some(want.id) {
        out.push("vlan");
    }
    if now.vlan_proto.as_deref() != Some(want.proto) {
        out.push("vlan_proto");
    }
    if master_index.is_none() || now.link != master_index {
        out.push("master");
    }
    if want.mac.is_some() && now.mac != want.mac {
        out.push("mac");
    }
    if want.mtu.is_some() && now.mtu != want.mtu {
        out.push("mtu");
    }
    out
}

/// Checks every vlan record; `nl` is the host namespace's socket.
pub fn check_all(nl: &mut Netlink, records: &[Record]) -> Vec<DriftKey> {
    let targets: Vec<(&Record, VlanWant, Query)> = records
        .iter()
        .filter_map(|r| {
            let q = Query { netns: r.netns.clone()?, ifname: r.ifname.to_string() };
            Some((r, wanted(r)?, q))
        })
        .collect();
    let queries: Vec<Query> = targets.iter().map(|(_, _, q)| q.clone()).collect();
    let links = podlink::read_all(&queries, podlink::TIMEOUT);
    let mut out = Vec::new();
    for ((rec, want, q), link) in targets.iter().zip(links) {
        match link {
            PodLink::Found(now) => {
                let master = nl.link_by_name(&want.master).ok().flatten().map(|l| l.index);
                out.extend(drifted(want, &now, master).into_iter().map(|f| key(rec, f)));
            }
            other => podlink::log_unread("drift", q, &other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want() -> VlanWant {
        VlanWant {
            master: "eth1".into(),
            id: 300,
            proto: "802.1q",
            mac: Some("02:00:00:00:03:00".into()),
            mtu: Some(1400),
        }
    }

    fn link() -> LinkView {
        LinkView {
            name: "net1".into(),
            kind: Some("vlan".into()),
            vlan_id: Some(300),
            vlan_proto: Some("802.1q".into()),
            link: Some(4),
            mac: Some("02:00:00:00:03:00".into()),
            mtu: Some(1400),
            ..LinkView::default()
        }
    }

    #[test]
    fn a_link_as_created_has_no_drift() {
        assert!(drifted(&want(), &link(), Some(4)).is_empty());
    }

    #[test]
    fn each_vlan_field_that_differs_is_named() {
        type Case = (&'static str, fn(&mut LinkView));
        let cases: [Case; 5] = [
            ("vlan", |l| l.vlan_id = Some(301)),
            ("vlan_proto", |l| l.vlan_proto = Some("802.1ad".into())),
            ("master", |l| l.link = Some(5)),
            ("mac", |l| l.mac = Some("02:00:00:00:03:01".into())),
            ("mtu", |l| l.mtu = Some(1300)),
        ];
        for (field, change) in cases {
            let mut now = link();
            change(&mut now);
            assert_eq!(drifted(&want(), &now, Some(4)), [field]);
        }
    }

    #[test]
    fn a_parent_that_is_gone_or_a_link_that_is_no_vlan_is_a_master_drift() {
        assert_eq!(drifted(&want(), &link(), None), ["master"]);
        let veth = LinkView { kind: Some("veth".into()), ..link() };
        assert_eq!(drifted(&want(), &veth, Some(4)), ["master"]);
    }

    #[test]
    fn what_the_result_did_not_report_is_not_judged() {
        let w = VlanWant { mac: None, mtu: None, ..want() };
        let now = LinkView { mac: Some("02:aa:00:00:00:01".into()), mtu: Some(9000), ..link() };
        assert!(drifted(&w, &now, Some(4)).is_empty());
    }
}
