//! What a new port needs from an uplink's fixed-size maps, and whether its
//! (VLAN, MAC) entries clash with a live port: decided before ADD changes
//! anything, so a refused port leaves the maps exactly as they were.
//!
//! Pure: the caller reads the maps into a [`Usage`]; every rule is a unit test.

use std::collections::{BTreeMap, BTreeSet};

use murmuration_common::{
    ATTACH_F_PTP_TO_HOST, ATTACH_F_TRUNK, AttachKey, MAX_ATTACH_ENTRIES, MAX_ATTACHMENTS,
    MAX_VLAN_MEMBERS, POD_F_PTP_TO_HOST, POD_F_TRUNK, PodConfig, VLAN_VID_MASK,
};

use super::error::DatapathError;

/// An uplink's current use of its maps, as far as a new port is concerned.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Host ifindexes of the configured ports (`POD_CFG`).
    pub ports: BTreeSet<u32>,
    /// Every `ATTACH` entry: (TPID, VLAN, MAC) -> (owner's host ifindex,
    /// attachment id); TPID 0 for the untagged network, as in the map.
    pub entries: BTreeMap<(u16, u16, [u8; 6]), (u32, u32)>,
    /// Flood-list sizes of the VLANs the new port joins.
    pub members: BTreeMap<u16, usize>,
}

/// The uplink-wide limits (see `docs/datapath.md`, "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub ports: usize,
    pub entries: usize,
    pub members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Attachment id 0 is the node's slot.
            ports: MAX_ATTACHMENTS as usize - 1,
            entries: MAX_ATTACH_ENTRIES as usize,
            members: MAX_VLAN_MEMBERS,
        }
    }
}

/// Refuses the port `pc` (on `ifindex`, not yet configured) when one of its
/// (VLAN, MAC) entries belongs to another live port, or when it does not fit.
pub fn check(
    usage: &Usage,
    limits: Limits,
    uplink: &str,
    ifindex: u32,
    pc: &PodConfig,
) -> Result<(), DatapathError> {
    let wanted: Vec<u16> = memberships(pc).into_iter().map(|(vid, _)| vid).collect();
    let key = |vid: u16| {
        let k = AttachKey::new(pc.tpid, vid, pc.mac);
        (k.tpid, k.vlan_id, k.mac)
    };
    for &vlan in &wanted {
        if let Some(&(owner, attach_id)) = usage.entries.get(&key(vlan))
            && owner != ifindex
            && usage.ports.contains(&owner)
        {
            return Err(DatapathError::MacInUse {
                uplink: uplink.to_owned(),
                vlan,
                tpid: key(vlan).0,
                mac: mac_string(pc.mac),
                attach_id,
            });
        }
    }
    if usage.ports.len() >= limits.ports {
        return Err(DatapathError::Full { uplink: uplink.to_owned(), max: limits.ports as u32 });
    }
    let new_entries = wanted.iter().filter(|&&v| !usage.entries.contains_key(&key(v))).count();
    if usage.entries.len() + new_entries > limits.entries {
        return Err(DatapathError::TableFull {
            uplink: uplink.to_owned(),
            used: usage.entries.len(),
            needed: new_entries,
            max: limits.entries,
        });
    }
    if let Some(&vlan) =
        wanted.iter().find(|v| usage.members.get(v).copied().unwrap_or(0) >= limits.members)
    {
        return Err(DatapathError::VlanFull {
            uplink: uplink.to_owned(),
            vlan,
            max: limits.members,
        });
    }
    Ok(())
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// (VLAN, ATTACH flags) pairs a port is a member of: the access (or native)
/// VLAN untagged, plus each trunk VLAN tagged; `ptpToHost` on all of them.
pub fn memberships(pc: &PodConfig) -> Vec<(u16, u32)> {
    let trunk = pc.flags & POD_F_TRUNK != 0;
    let ptp = if pc.flags & POD_F_PTP_TO_HOST != 0 { ATTACH_F_PTP_TO_HOST } else { 0 };
    let mut out = Vec::new();
    if !trunk || pc.vlan_id != 0 {
        out.push((pc.vlan_id & VLAN_VID_MASK, ptp));
    }
    if trunk {
        for vid in 1..4095u16 {
            let word = pc.trunk_bitmap[usize::from(vid) / 64];
            if word & (1 << (vid % 64)) != 0 && vid != pc.vlan_id {
                out.push((vid, ATTACH_F_TRUNK | ptp));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use murmuration_common::POD_F_TRUNK;

    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const OTHER: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn access(vlan: u16, mac: [u8; 6]) -> PodConfig {
        PodConfig { mac, vlan_id: vlan, ..PodConfig::default() }
    }

    fn trunk(native: u16, vids: impl IntoIterator<Item = u16>) -> PodConfig {
        let mut pc =
            PodConfig { mac: MAC, vlan_id: native, flags: POD_F_TRUNK, ..PodConfig::default() };
        vids.into_iter().for_each(|v| pc.allow_vlan(v));
        pc
    }

    fn usage(entries: &[(u16, [u8; 6], u32)], live: &[u32]) -> Usage {
        Usage {
            ports: live.iter().copied().collect(),
            entries: entries
                .iter()
                .map(|&(v, m, owner)| ((tpid(v), v, m), (owner, owner + 100)))
                .collect(),
            members: BTreeMap::new(),
        }
    }

    /// The TPID of VLAN `v` in the map: 802.1Q, or 0 for the untagged network.
    fn tpid(v: u16) -> u16 {
        if v == 0 { 0 } else { 0x8100 }
    }

    fn run(u: &Usage, limits: Limits, pc: &PodConfig) -> Result<(), DatapathError> {
        check(u, limits, "up0", 9, pc)
    }

    #[test]
    fn a_mac_owned_by_a_live_port_on_the_same_vlan_is_refused() {
        let u = usage(&[(100, MAC, 5)], &[5]);
        let err = run(&u, Limits::default(), &access(100, MAC)).expect_err("clash");
        assert!(
            matches!(&err, DatapathError::MacInUse { vlan: 100, attach_id: 105, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("02:00:00:00:00:01"), "{err}");
        // A trunk that carries VLAN 100 clashes too.
        assert!(run(&u, Limits::default(), &trunk(0, [100, 200])).is_err());
    }

    #[test]
    fn the_same_mac_elsewhere_or_an_orphaned_entry_is_no_clash() {
        let u = usage(&[(100, MAC, 5), (200, OTHER, 6), (300, MAC, 7)], &[5, 6]);
        assert!(run(&u, Limits::default(), &access(200, MAC)).is_ok(), "other VLAN");
        assert!(run(&u, Limits::default(), &access(100, OTHER)).is_ok(), "other MAC");
        // Owner 7 is no port any more: its entry is an orphan the insert replaces.
        assert!(run(&u, Limits::default(), &access(300, MAC)).is_ok(), "orphan");
    }

    #[test]
    fn ports_entries_and_members_are_counted_before_anything_changes() {
        let limits = Limits { ports: 2, entries: 4, members: 2 };
        let full_ports = usage(&[], &[1, 2]);
        let err = run(&full_ports, limits, &access(100, MAC)).expect_err("ports");
        assert!(matches!(err, DatapathError::Full { max: 2, .. }), "{err:?}");

        let u = usage(&[(1, OTHER, 1), (2, OTHER, 1)], &[1]);
        assert!(run(&u, limits, &trunk(0, [10, 11])).is_ok(), "4 of 4");
        let err = run(&u, limits, &trunk(0, [10, 11, 12])).expect_err("entries");
        assert!(
            matches!(err, DatapathError::TableFull { used: 2, needed: 3, max: 4, .. }),
            "{err:?}"
        );

        let mut crowded = usage(&[], &[1]);
        crowded.members.insert(100, 2);
        let err = run(&crowded, limits, &access(100, MAC)).expect_err("members");
        assert!(matches!(err, DatapathError::VlanFull { vlan: 100, max: 2, .. }), "{err:?}");
    }

    #[test]
    fn one_full_range_trunk_fits_and_leaves_one_entry() {
        let u = usage(&[], &[]);
        let big = trunk(1, 2..=4094);
        assert_eq!(memberships(&big).len(), 4094);
        assert!(run(&u, Limits::default(), &big).is_ok());
        let after = Usage {
            ports: [9].into(),
            entries: (1..=4094).map(|v| ((0x8100, v, MAC), (9, 1))).collect(),
            members: BTreeMap::new(),
        };
        let next =
            |mac| check(&after, Limits::default(), "up0", 10, &trunk(7, [8, 9]).with_mac(mac));
        let err = next(OTHER).expect_err("3 entries do not fit in the last 2");
        assert!(err.to_string().contains("4096"), "{err}");
        assert!(check(&after, Limits::default(), "up0", 10, &access(5, OTHER)).is_ok());
    }

    trait WithMac {
        fn with_mac(self, mac: [u8; 6]) -> Self;
    }

    impl WithMac for PodConfig {
        fn with_mac(mut self, mac: [u8; 6]) -> Self {
            self.mac = mac;
            self
        }
    }
}
