//! The uplink's maps, opened from their pins, and the pure logic of an
//! attachment's entries (which VLANs it is a member of, the flood lists).

use std::collections::BTreeSet;
use std::path::Path;

use aya::maps::{Array, DevMapHash, HashMap, Map, MapData, PerCpuArray, PerCpuValues};
use murmuration_common::{
    AttachKey, AttachValue, Counters, Histogram, MAX_VLAN_MEMBERS, NodeConfig, PodConfig, PodIpKey,
    Policer, VlanMember, VlanMembers, map_names, vlan_key,
};

use super::capacity::{Usage, memberships};
use super::error::DatapathError;

/// Handles on the pinned maps of one uplink.
pub struct Maps {
    pub attach: HashMap<MapData, AttachKey, AttachValue>,
    pub vlans: HashMap<MapData, u32, VlanMembers>,
    pub pods: HashMap<MapData, u32, PodConfig>,
    pub node: Array<MapData, NodeConfig>,
    pub counters: PerCpuArray<MapData, Counters>,
    pub latency: PerCpuArray<MapData, Histogram>,
    /// Attachment id -> host veth ifindex (XDP redirect targets).
    pub devs: DevMapHash<MapData>,
    /// Run-time switches (`SETTING_*`).
    pub settings: Array<MapData, u32>,
    /// Addresses each pod may send from (`ipSpoofchk`).
    pub ips: HashMap<MapData, PodIpKey, u8>,
}

impl std::fmt::Debug for Maps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maps").finish_non_exhaustive()
    }
}

fn pinned(dir: &Path, name: &'static str) -> Result<MapData, DatapathError> {
    MapData::from_pin(dir.join(name)).map_err(DatapathError::map(name))
}

impl Maps {
    pub fn open(dir: &Path) -> Result<Self, DatapathError> {
        let m = |n| pinned(dir, n);
        let e = DatapathError::map;
        Ok(Self {
            attach: HashMap::try_from(Map::HashMap(m(map_names::ATTACH)?))
                .map_err(e(map_names::ATTACH))?,
            vlans: HashMap::try_from(Map::HashMap(m(map_names::VLAN_MEMBERS)?))
                .map_err(e(map_names::VLAN_MEMBERS))?,
            pods: HashMap::try_from(Map::HashMap(m(map_names::POD_CFG)?))
                .map_err(e(map_names::POD_CFG))?,
            node: Array::try_from(Map::Array(m(map_names::NODE_CFG)?))
                .map_err(e(map_names::NODE_CFG))?,
            counters: PerCpuArray::try_from(Map::PerCpuArray(m(map_names::COUNTERS)?))
                .map_err(e(map_names::COUNTERS))?,
            latency: PerCpuArray::try_from(Map::PerCpuArray(m(map_names::LATENCY)?))
                .map_err(e(map_names::LATENCY))?,
            devs: DevMapHash::try_from(Map::DevMapHash(m(map_names::PORT_DEVS)?))
                .map_err(e(map_names::PORT_DEVS))?,
            settings: Array::try_from(Map::Array(m(map_names::SETTINGS)?))
                .map_err(e(map_names::SETTINGS))?,
            ips: HashMap::try_from(Map::HashMap(m(map_names::POD_IPS)?))
                .map_err(e(map_names::POD_IPS))?,
        })
    }

    /// Records the addresses the pod on `ifindex` may send from.
    pub fn add_ips(&mut self, ifindex: u32, ips: &[std::net::IpAddr]) -> Result<(), DatapathError> {
        for ip in ips {
            self.ips
                .insert(pod_ip_key(ifindex, *ip), 1, 0)
                .map_err(DatapathError::map(map_names::POD_IPS))?;
        }
        Ok(())
    }

    /// Forgets every address of the pod on `ifindex`.
    pub fn remove_ips(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        let keys: Vec<PodIpKey> =
            self.ips.keys().filter_map(Result::ok).filter(|k| k.ifindex == ifindex).collect();
        for k in keys {
            remove_entry(self.ips.remove(&k), map_names::POD_IPS)?;
        }
        Ok(())
    }

    /// Every configured port: (host veth ifindex, its config).
    pub fn ports(&self) -> Vec<(u32, PodConfig)> {
        let mut out: Vec<_> = self.pods.iter().filter_map(Result::ok).collect();
        out.sort_by_key(|(_, pc)| pc.attach_id);
        out
    }

    pub fn port(&self, ifindex: u32) -> Option<PodConfig> {
        self.pods.get(&ifindex, 0).ok()
    }

    /// What [`super::capacity::check`] needs to judge the port `pc`.
    pub fn usage(&self, pc: &PodConfig) -> Usage {
        let ports = self.pods.keys().filter_map(Result::ok).collect();
        let entries = self
            .attach
            .iter()
            .filter_map(Result::ok)
            .map(|(k, v)| ((k.tpid, k.vlan_id, k.mac), (v.host_ifindex, v.attach_id)))
            .collect();
        let members = memberships(pc)
            .into_iter()
            .filter_map(|(vid, _)| {
                let m = self.vlans.get(&vlan_key(pc.tpid, vid), 0).ok()?;
                Some((vid, (m.count as usize).min(MAX_VLAN_MEMBERS)))
            })
            .collect();
        Usage { ports, entries, members }
    }

    /// Adds the port's (VLAN, MAC) entries and flood-list memberships.
    pub fn add_memberships(
        &mut self,
        ifindex: u32,
        pc: &PodConfig,
        uplink: &str,
    ) -> Result<(), DatapathError> {
        for (vid, flags) in memberships(pc) {
            let value =
                AttachValue { host_ifindex: ifindex, attach_id: pc.attach_id, flags, _pad: 0 };
            let key = AttachKey::new(pc.tpid, vid, pc.mac);
            self.attach.insert(key, value, 0).map_err(DatapathError::map(map_names::ATTACH))?;
            let mut members = self.vlans.get(&vlan_key(pc.tpid, vid), 0).unwrap_or_default();
            let member =
                VlanMember { host_ifindex: ifindex, attach_id: pc.attach_id, flags, _pad: 0 };
            if !upsert_member(&mut members, member) {
                return Err(DatapathError::VlanFull {
                    uplink: uplink.to_owned(),
                    vlan: vid,
                    max: MAX_VLAN_MEMBERS,
                });
            }
            self.vlans
                .insert(vlan_key(pc.tpid, vid), members, 0)
                .map_err(DatapathError::map(map_names::VLAN_MEMBERS))?;
        }
        Ok(())
    }

    /// Whether the (VLAN, MAC) entry `key` exists and belongs to the port
    /// `ifindex` with attachment id `attach_id`.
    pub fn owns_entry(&self, key: &AttachKey, ifindex: u32, attach_id: u32) -> bool {
        self.attach.get(key, 0).is_ok_and(|v| v.host_ifindex == ifindex && v.attach_id == attach_id)
    }

    /// Removes what `add_memberships` added; a MAC entry that points at
    /// another port is left alone.
    pub fn remove_memberships(
        &mut self,
        ifindex: u32,
        pc: &PodConfig,
    ) -> Result<(), DatapathError> {
        for (vid, _) in memberships(pc) {
            let key = AttachKey::new(pc.tpid, vid, pc.mac);
            if self.owns_entry(&key, ifindex, pc.attach_id) {
                remove_entry(self.attach.remove(&key), map_names::ATTACH)?;
            }
            let vid = vlan_key(pc.tpid, vid);
            let Ok(mut members) = self.vlans.get(&vid, 0) else {
                continue;
            };
            remove_member(&mut members, ifindex);
            if members.count == 0 {
                remove_entry(self.vlans.remove(&vid), map_names::VLAN_MEMBERS)?;
            } else {
                self.vlans
                    .insert(vid, members, 0)
                    .map_err(DatapathError::map(map_names::VLAN_MEMBERS))?;
            }
        }
        Ok(())
    }

    /// Makes attachment `id` an XDP redirect target (its host veth end).
    pub fn set_dev(&mut self, id: u32, ifindex: u32) -> Result<(), DatapathError> {
        self.devs.insert(id, ifindex, None, 0).map_err(|e| DatapathError::PortDevs(Box::new(e)))
    }

    pub fn remove_dev(&mut self, id: u32) -> Result<(), DatapathError> {
        remove_entry(self.devs.remove(id), map_names::PORT_DEVS)
    }

    /// The lowest attachment id no port uses.
    pub fn free_id(&self, max: u32) -> Option<u32> {
        let used: BTreeSet<u32> = self.ports().iter().map(|(_, pc)| pc.attach_id).collect();
        (1..max).find(|id| !used.contains(id))
    }

    /// Zeroes the counter and histogram slots of `id` (a reused id starts at 0).
    pub fn reset_slots(&mut self, id: u32) -> Result<(), DatapathError> {
        use murmuration_common::{NUM_DIRS, NUM_HIST_KINDS, counter_index, hist_index};
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| {
            DatapathError::io("counting CPUs", "/sys/devices/system/cpu/possible")(e)
        })?;
        for dir in 0..NUM_DIRS {
            let zero = PerCpuValues::try_from(vec![Counters::default(); cpus])
                .map_err(DatapathError::io("per-CPU values", ""))?;
            self.counters
                .set(counter_index(id, dir), zero, 0)
                .map_err(DatapathError::map(map_names::COUNTERS))?;
            for kind in 0..NUM_HIST_KINDS {
                let zero = PerCpuValues::try_from(vec![Histogram::default(); cpus])
                    .map_err(DatapathError::io("per-CPU values", ""))?;
                self.latency
                    .set(hist_index(id, dir, kind), zero, 0)
                    .map_err(DatapathError::map(map_names::LATENCY))?;
            }
        }
        Ok(())
    }
}

/// Writes attachment `id`'s policers ([to the pod, from the pod]; no limit
/// is a zero rate), replacing what an earlier holder of the id left. The
/// `RATE` map is opened here only, so a fast path pinned by an older
/// object without it still opens for DEL, GC and CHECK.
pub fn set_rates(dir: &Path, id: u32, rates: [Policer; 2]) -> Result<(), DatapathError> {
    use murmuration_common::{DIR_FROM_POD, DIR_TO_POD, counter_index};
    let name = map_names::RATE;
    let mut map: Array<MapData, Policer> =
        Array::try_from(Map::Array(pinned(dir, name)?)).map_err(DatapathError::map(name))?;
    for (dir, p) in [DIR_TO_POD, DIR_FROM_POD].into_iter().zip(rates) {
        map.set(counter_index(id, dir), p, 0).map_err(DatapathError::map(name))?;
    }
    Ok(())
}

/// Deleting an entry that is already gone is fine.
fn remove_entry(
    r: Result<(), aya::maps::MapError>,
    name: &'static str,
) -> Result<(), DatapathError> {
    match r {
        Err(aya::maps::MapError::KeyNotFound) => Ok(()),
        Err(aya::maps::MapError::SyscallError(s))
            if s.io_error.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(())
        }
        r => r.map_err(DatapathError::map(name)),
    }
}

/// The `POD_IPS` key of `ip` on host veth `ifindex`.
pub fn pod_ip_key(ifindex: u32, ip: std::net::IpAddr) -> PodIpKey {
    let (family, addr) = match ip {
        std::net::IpAddr::V4(a) => {
            let mut addr = [0u8; 16];
            addr[..4].copy_from_slice(&a.octets());
            (4, addr)
        }
        std::net::IpAddr::V6(a) => (6, a.octets()),
    };
    PodIpKey { ifindex, family, _pad: [0; 3], addr }
}

/// Inserts or updates `member`; false when the list is full.
pub fn upsert_member(m: &mut VlanMembers, member: VlanMember) -> bool {
    let n = (m.count as usize).min(MAX_VLAN_MEMBERS);
    if let Some(slot) = m.members[..n].iter_mut().find(|x| x.host_ifindex == member.host_ifindex) {
        *slot = member;
        return true;
    }
    if n >= MAX_VLAN_MEMBERS {
        return false;
    }
    m.members[n] = member;
    m.count += 1;
    true
}

pub fn remove_member(m: &mut VlanMembers, ifindex: u32) {
    let n = (m.count as usize).min(MAX_VLAN_MEMBERS);
    if let Some(pos) = m.members[..n].iter().position(|x| x.host_ifindex == ifindex) {
        m.members.copy_within(pos + 1..n, pos);
        m.members[n - 1] = VlanMember::default();
        m.count -= 1;
    }
}

#[cfg(test)]
#[path = "maps_tests.rs"]
mod tests;
