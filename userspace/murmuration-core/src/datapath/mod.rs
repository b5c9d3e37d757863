//! The eBPF fast path of `veth` attachments: loading the programs once per
//! uplink, attaching them, and the per-attachment map entries.
//!
//! All kernel state lives under `<pin_root>/<uplink>/` (bpffs, mode 0700):
//!
//! ```text
//! ATTACH VLAN_MEMBERS POD_CFG NODE_CFG COUNTERS LATENCY   maps (and PORT_DEVS
//! SETTINGS POD_IPS RATE)
//! prog_<tag>_uplink prog_<tag>_pod                        programs (tag: object hash)
//! prog_<tag>_xdp                                          the XDP variant
//! link_uplink  link_pod_<ifindex>                         TCX links
//! link_xdp_native | link_xdp_generic                      XDP link (uplinkXdp)
//! ```
//!
//! Each CNI call is a new process: it opens the pins (loading the object
//! only when they are missing), changes what it must under an exclusive
//! lock on the directory, and exits; the data plane keeps running. See
//! `docs/datapath.md`.

mod capacity;
mod error;
mod maps;
mod object;
mod pins;
mod qdisc;
mod stats;
mod sys;
mod tc;
#[cfg(feature = "testing")]
pub mod testing;
mod xdp;

use std::path::{Path, PathBuf};

use murmuration_common::{
    ETH_P_8021AD, ETH_P_8021Q, MAX_ATTACHMENTS, MAX_POD_IPS, NodeConfig, POD_F_IP_SPOOFCHK,
    POD_F_NO_SPOOFCHK, POD_F_PTP_PRIORITY, POD_F_PTP_TO_HOST, POD_F_TRUNK, PodConfig, Policer,
    map_names,
};

pub use error::DatapathError;
pub use maps::Maps;
pub use murmuration_common as common;
pub use object::probe;
pub use pins::BPFFS_MOUNT;
pub use stats::{
    Histogram, PortCounters, PortLatency, Reader, prometheus_buckets, quantile_le_ns, set_counting,
};
pub use sys::enable_gro;
pub use tc::tcx_programs;
pub use xdp::XdpFlavour;

/// The config's fast-path keys (`bpfAttachMode`, `uplinkXdp`, `bpfPinRoot`)
/// are parsed in the config layer, below this one.
pub use crate::cni::config::fastpath::{AttachMode, DEFAULT_PIN_ROOT, UplinkXdp};

use object::Programs;
use pins::PinDir;

/// `skb->priority` given to PTP frames.
pub const PTP_PRIORITY: u32 = 7;
const LINK_UPLINK: &str = "link_uplink";

/// Where an uplink's fast path lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkConfig {
    pub uplink: String,
    pub pin_root: PathBuf,
    pub mode: AttachMode,
    /// Whether an XDP program runs in front of the tc one (uplink-wide: an
    /// ADD asking for another setting than the uplink's live ports run is
    /// refused).
    pub xdp: UplinkXdp,
}

impl UplinkConfig {
    pub fn pin_dir(&self) -> PathBuf {
        self.pin_root.join(&self.uplink)
    }
}

/// One attachment's port: the host end of its veth and its VLAN policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub host_if: String,
    /// The pod end's MAC: the only source MAC the pod may use (spoofchk).
    pub mac: [u8; 6],
    /// Access VLAN, or the native VLAN of a trunk (0: untagged).
    pub vlan: u16,
    /// Tagged VLANs of a trunk port; empty for an access port.
    pub trunk: Vec<u16>,
    /// TPID pushed towards the uplink: 0x8100 (802.1Q) or 0x88a8 (802.1ad).
    pub tpid: u16,
    /// PCP pushed towards the uplink (0-7).
    pub pcp: u8,
    pub spoofchk: bool,
    /// PTP from the uplink goes to the node's stack instead of the pod.
    pub ptp_to_host: bool,
    /// PTP from the pod gets [`PTP_PRIORITY`].
    pub ptp_priority: bool,
    /// The pod may send only from `ips` (IPv4, ARP, IPv6, ND).
    pub ip_spoofchk: bool,
    /// The addresses IPAM gave the pod (at most `MAX_POD_IPS`).
    pub ips: Vec<std::net::IpAddr>,
    /// Rate limits (`bandwidth`): [to the pod, from the pod].
    pub rates: [Policer; 2],
}

/// What identifies a port in the maps: recorded by ADD for DEL and CHECK.
/// Ifindexes and attachment ids repeat (after a reboot, a new bpffs, a new
/// node namespace); the random cookie does not, so a stale record never
/// matches a live port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub host_ifindex: u32,
    pub attach_id: u32,
    pub cookie: u64,
}

impl Port {
    fn of(ifindex: u32, pc: &PodConfig) -> Self {
        Self { host_ifindex: ifindex, attach_id: pc.attach_id, cookie: pc.cookie }
    }

    fn owns(&self, pc: &PodConfig) -> bool {
        pc.attach_id == self.attach_id && pc.cookie == self.cookie
    }
}

/// An uplink's locked pin directory, maps and (when attaching) programs.
#[derive(Debug)]
pub struct Datapath {
    cfg: UplinkConfig,
    dir: PinDir,
    maps: Maps,
    progs: Option<Programs>,
}

impl Datapath {
    /// Makes sure the uplink's programs are loaded, pinned and attached, and
    /// locks the pin directory. Idempotent; repairs a half-made state.
    pub fn open(cfg: &UplinkConfig) -> Result<Self, DatapathError> {
        let uplink_ifindex = sys::ifindex(&cfg.uplink)?;
        let dir = PinDir::open(&cfg.pin_root, &cfg.uplink, true)?
            .ok_or(DatapathError::Unstable { path: cfg.pin_dir() })?;
        let recovered = object::recover_map_pins(&dir)?;
        if recovered > 0 {
            tracing::warn!(uplink = %cfg.uplink, recovered, "re-pinned maps of the running programs");
        }
        let (mut progs, fresh) = object::ensure_loaded(&dir)?;
        let mut maps = Maps::open(dir.path())?;
        let node = NodeConfig {
            uplink_ifindex,
            ptp_priority: PTP_PRIORITY,
            tai_offset_ns: sys::tai_offset_ns()?,
        };
        maps.node.set(0, node, 0).map_err(DatapathError::map(map_names::NODE_CFG))?;
        if maps.ports().iter().any(|(ifindex, _)| sys::ifname(*ifindex).is_some()) {
            xdp::check_consistent(&cfg.uplink, dir.path(), cfg.xdp)?;
        }
        let how = tc::attach(
            &mut progs.uplink,
            "uplink_ingress",
            &cfg.uplink,
            &dir.join(LINK_UPLINK),
            cfg.mode,
        )?;
        tracing::debug!(uplink = %cfg.uplink, ?how, fresh, "uplink program attached");
        let mut dp = Self { cfg: cfg.clone(), dir, maps, progs: Some(progs) };
        if let Err(e) = dp.apply_xdp() {
            if let Err(undo) = dp.close_if_unused() {
                tracing::warn!(error = %undo, "removing the unused fast path");
            }
            return Err(e);
        }
        dp.drop_vanished()?;
        if fresh {
            dp.relink_ports()?;
            object::unpin_stale(&dp.dir)?;
        }
        Ok(dp)
    }

    fn apply_xdp(&mut self) -> Result<(), DatapathError> {
        let progs = self.progs.as_mut().ok_or(DatapathError::Missing { what: "uplink_xdp" })?;
        let xdp = xdp::apply(&mut progs.xdp, &self.cfg.uplink, &self.dir, self.cfg.xdp)?;
        tracing::debug!(uplink = %self.cfg.uplink, ?xdp, "uplink XDP");
        Ok(())
    }

    /// Opens an existing fast path without creating, attaching or removing
    /// anything; `None` when the uplink has none. With `repair`, map pins
    /// that are missing are first re-pinned from the running programs (only
    /// adds pins). A map that still cannot be opened is reported as
    /// [`DatapathError::Damaged`]: an unreadable pin is never taken as
    /// evidence that the fast path is a remnant.
    pub fn open_existing(cfg: &UplinkConfig, repair: bool) -> Result<Option<Self>, DatapathError> {
        let Some(dir) = PinDir::open(&cfg.pin_root, &cfg.uplink, false)? else {
            return Ok(None);
        };
        if repair {
            object::recover_map_pins(&dir)?;
        }
        match Maps::open(dir.path()) {
            Ok(maps) => Ok(Some(Self { cfg: cfg.clone(), dir, maps, progs: None })),
            Err(e) => Err(DatapathError::Damaged {
                uplink: cfg.uplink.clone(),
                reason: crate::cni::error::chain(&e),
            }),
        }
    }

    pub fn maps(&self) -> &Maps {
        &self.maps
    }

    /// Adds the port on `spec.host_if` (a veth end this ADD just made) and
    /// attaches the pod program to it. Refuses, before changing anything, a
    /// (VLAN, MAC) that a live port owns and a port that does not fit.
    pub fn add_port(&mut self, spec: &PortSpec) -> Result<Port, DatapathError> {
        let pc0 = validate(spec)?;
        let ifindex = sys::ifindex(&spec.host_if)?;
        if let Some(old) = self.maps.port(ifindex) {
            // The link is new, so the entry is a vanished link's whose
            // ifindex the kernel handed out again.
            tracing::info!(ifindex, attach_id = old.attach_id, "dropping a stale port");
            self.forget(Port::of(ifindex, &old), &old)?;
        }
        let usage = self.maps.usage(&pc0);
        capacity::check(&usage, capacity::Limits::default(), &self.cfg.uplink, ifindex, &pc0)?;
        let attach_id = self.maps.free_id(MAX_ATTACHMENTS).ok_or_else(|| DatapathError::Full {
            uplink: self.cfg.uplink.clone(),
            max: MAX_ATTACHMENTS - 1,
        })?;
        let pc = PodConfig { attach_id, cookie: sys::random_cookie()?, ..pc0 };
        self.maps.reset_slots(attach_id)?;
        let port = Port::of(ifindex, &pc);
        if let Err(e) = self.install(port, &pc, spec) {
            let _ = self.forget(port, &pc);
            return Err(e);
        }
        Ok(port)
    }

    fn install(
        &mut self,
        port: Port,
        pc: &PodConfig,
        spec: &PortSpec,
    ) -> Result<(), DatapathError> {
        maps::set_rates(self.dir.path(), port.attach_id, spec.rates)?;
        self.maps
            .pods
            .insert(port.host_ifindex, *pc, 0)
            .map_err(DatapathError::map(map_names::POD_CFG))?;
        self.maps.set_dev(port.attach_id, port.host_ifindex)?;
        self.maps.add_ips(port.host_ifindex, &spec.ips)?;
        self.maps.add_memberships(port.host_ifindex, pc, &self.cfg.uplink)?;
        let pin = self.link_pin(port.host_ifindex);
        let progs = self.progs.as_mut().ok_or(DatapathError::Missing { what: "pod_egress" })?;
        tc::attach(&mut progs.pod, "pod_egress", &spec.host_if, &pin, self.cfg.mode)?;
        qdisc::occupy(&spec.host_if)
    }

    /// Removes the port if it is the one recorded (same ifindex, id and
    /// cookie); a port that is already gone counts as removed. Returns
    /// whether it removed anything.
    pub fn remove_port(&mut self, port: Port) -> Result<bool, DatapathError> {
        match self.maps.port(port.host_ifindex) {
            Some(pc) if port.owns(&pc) => self.forget(port, &pc).map(|()| true),
            Some(pc) => {
                // Another attachment's port (a record from before a reboot or
                // a new bpffs): not ours to touch.
                tracing::info!(
                    ifindex = port.host_ifindex,
                    recorded = port.attach_id,
                    live = pc.attach_id,
                    "the recorded port is not the live one; leaving it alone"
                );
                Ok(false)
            }
            None => Ok(false),
        }
    }

    fn forget(&mut self, port: Port, pc: &PodConfig) -> Result<(), DatapathError> {
        let name = sys::ifname(port.host_ifindex);
        tc::detach(name.as_deref(), &self.link_pin(port.host_ifindex))?;
        self.maps.remove_memberships(port.host_ifindex, pc)?;
        self.maps.remove_ips(port.host_ifindex)?;
        self.maps.remove_dev(port.attach_id)?;
        match self.maps.pods.remove(&port.host_ifindex) {
            Err(aya::maps::MapError::KeyNotFound) | Ok(()) => Ok(()),
            Err(e) => Err(DatapathError::map(map_names::POD_CFG)(e)),
        }
    }

    /// Detaches the uplink program and unpins everything when no port is
    /// left. Returns whether it did.
    pub fn close_if_unused(self) -> Result<bool, DatapathError> {
        if !self.maps.ports().is_empty() {
            return Ok(false);
        }
        xdp::detach(&self.dir)?;
        tc::detach(Some(&self.cfg.uplink), &self.dir.join(LINK_UPLINK))?;
        let Self { cfg, dir, maps, progs } = self;
        drop((maps, progs));
        dir.remove()?;
        tracing::info!(uplink = %cfg.uplink, "last port gone; fast path removed");
        Ok(true)
    }

    /// Drops ports whose host veth no longer exists (pod deleted without a
    /// DEL) and link pins without a port. Returns how many ports it dropped.
    pub fn drop_vanished(&mut self) -> Result<usize, DatapathError> {
        let mut dropped = 0;
        for (ifindex, pc) in self.maps.ports() {
            if sys::ifname(ifindex).is_none() {
                tracing::info!(
                    ifindex,
                    attach_id = pc.attach_id,
                    "host veth gone; dropping its port"
                );
                self.forget(Port::of(ifindex, &pc), &pc)?;
                dropped += 1;
            }
        }
        for name in self.dir.entries()? {
            let Some(ifindex) = name.strip_prefix("link_pod_").and_then(|i| i.parse().ok()) else {
                continue;
            };
            if self.maps.port(ifindex).is_none() {
                tc::detach(None, &self.link_pin(ifindex))?;
            }
        }
        Ok(dropped)
    }

    /// After loading new programs: move every port's link over to them.
    fn relink_ports(&mut self) -> Result<(), DatapathError> {
        for (ifindex, _) in self.maps.ports() {
            let Some(name) = sys::ifname(ifindex) else { continue };
            let pin = self.link_pin(ifindex);
            if let Some(progs) = self.progs.as_mut() {
                tc::attach(&mut progs.pod, "pod_egress", &name, &pin, self.cfg.mode)?;
            }
        }
        Ok(())
    }

    /// Whether the recorded port is configured as expected (CHECK).
    pub fn verify_port(&self, port: Port, mac: [u8; 6]) -> Result<(), String> {
        let pc = self.maps.port(port.host_ifindex).ok_or("no fast-path entry for the host veth")?;
        if !port.owns(&pc) || pc.mac != mac {
            return Err(format!("fast-path entry belongs to attachment {}", pc.attach_id));
        }
        for (vid, _) in capacity::memberships(&pc) {
            let key = common::AttachKey::new(pc.tpid, vid, mac);
            if !self.maps.owns_entry(&key, port.host_ifindex, pc.attach_id) {
                return Err(format!("no fast-path MAC entry on VLAN {vid}"));
            }
        }
        if self.dir.join(LINK_UPLINK).exists() != self.link_pin(port.host_ifindex).exists() {
            return Err("the pod program is not attached to the host veth".into());
        }
        Ok(())
    }

    fn link_pin(&self, ifindex: u32) -> PathBuf {
        self.dir.join(&format!("link_pod_{ifindex}"))
    }

    pub fn pin_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The XDP flavour running on the uplink, if any.
    pub fn xdp(&self) -> Option<XdpFlavour> {
        xdp::attached(self.dir.path())
    }
}

fn validate(spec: &PortSpec) -> Result<PodConfig, DatapathError> {
    let bad = |reason| Err(DatapathError::InvalidPort { reason });
    if spec.tpid != ETH_P_8021Q && spec.tpid != ETH_P_8021AD {
        return bad("tpid must be 0x8100 or 0x88a8");
    }
    if spec.pcp > 7 {
        return bad("pcp must be 0-7");
    }
    if spec.mac[0] & 1 != 0 || spec.mac == [0; 6] {
        return bad("the pod MAC must be unicast");
    }
    if spec.vlan > 4094 || spec.trunk.iter().any(|&v| v == 0 || v > 4094) {
        return bad("VLAN ids must be 1-4094");
    }
    let mut pc = PodConfig {
        mac: spec.mac,
        vlan_id: spec.vlan,
        tpid: spec.tpid,
        pcp: spec.pcp,
        ..PodConfig::default()
    };
    if !spec.trunk.is_empty() {
        pc.flags |= POD_F_TRUNK;
        spec.trunk.iter().for_each(|&v| pc.allow_vlan(v));
    }
    if !spec.spoofchk {
        pc.flags |= POD_F_NO_SPOOFCHK;
    }
    if spec.ptp_to_host {
        pc.flags |= POD_F_PTP_TO_HOST;
    }
    if spec.ptp_priority {
        pc.flags |= POD_F_PTP_PRIORITY;
    }
    if spec.ips.len() > MAX_POD_IPS {
        return bad("at most 8 addresses per port");
    }
    if spec.ip_spoofchk {
        pc.flags |= POD_F_IP_SPOOFCHK;
    }
    Ok(pc)
}

/// ADD: opens (or creates) the uplink's fast path and adds the port. On
/// failure nothing of the port is left, nor the fast path if it has no port.
pub fn attach_port(cfg: &UplinkConfig, spec: &PortSpec) -> Result<Port, DatapathError> {
    let mut dp = Datapath::open(cfg)?;
    match dp.add_port(spec) {
        Ok(port) => Ok(port),
        Err(e) => {
            if let Err(undo) = dp.close_if_unused() {
                tracing::warn!(error = %undo, "removing the unused fast path");
            }
            Err(e)
        }
    }
}

/// DEL: removes exactly this port (if the record still owns it), and the
/// uplink's programs with the last port.
pub fn detach_port(cfg: &UplinkConfig, port: Port) -> Result<(), DatapathError> {
    let Some(mut dp) = Datapath::open_existing(cfg, true)? else {
        return Ok(());
    };
    dp.remove_port(port)?;
    dp.drop_vanished()?;
    dp.close_if_unused()?;
    Ok(())
}

/// GC: drops ports whose veth is gone; removes the fast path when empty.
pub fn collect_garbage(cfg: &UplinkConfig) -> Result<usize, DatapathError> {
    let Some(mut dp) = Datapath::open_existing(cfg, true)? else {
        return Ok(0);
    };
    let dropped = dp.drop_vanished()?;
    dp.close_if_unused()?;
    Ok(dropped)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
