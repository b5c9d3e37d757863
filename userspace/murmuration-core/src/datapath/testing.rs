//! TEST DOUBLE for the privileged tests, built only with the `testing`
//! feature: turns a plain veth end (the "wire" side of a test topology) into
//! a VLAN access port of a switch, because the host kernel has no 802.1Q
//! devices. Egress frames get the tag pushed, ingress frames carrying it get
//! it popped, and ingress frames are counted as [tagged with our VLAN,
//! untagged, tagged with another VLAN] so a test can prove what was on the
//! wire. Pins live under `<pin_root>/wire-<iface>/`.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use aya::EbpfLoader;
use aya::maps::{Array, Map, MapData, PerCpuArray};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{LinkOrder, tc::TcAttachOptions};
use aya::programs::{SchedClassifier, TcAttachType};

use super::error::DatapathError;
use super::object::WIRE_TAGGER;

fn dir(pin_root: &Path, iface: &str) -> PathBuf {
    pin_root.join(format!("wire-{iface}"))
}

/// Installs the tagger on `iface` (current netns) for VLAN `vid` / `tpid`.
pub fn install(pin_root: &Path, iface: &str, vid: u16, tpid: u16) -> Result<(), DatapathError> {
    let d = dir(pin_root, iface);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&d)
        .map_err(DatapathError::io("creating", &d))?;
    let mut ebpf = EbpfLoader::new()
        .map_pin_path("WIRE_CFG", d.join("WIRE_CFG"))
        .map_pin_path("WIRE_STATS", d.join("WIRE_STATS"))
        .load(WIRE_TAGGER)
        .map_err(|e| DatapathError::Load(Box::new(e)))?;
    let map = ebpf.map_mut("WIRE_CFG").ok_or(DatapathError::Missing { what: "WIRE_CFG" })?;
    let mut cfg: Array<&mut MapData, u32> =
        Array::try_from(map).map_err(DatapathError::map("WIRE_CFG"))?;
    cfg.set(0, u32::from(vid), 0).map_err(DatapathError::map("WIRE_CFG"))?;
    cfg.set(1, u32::from(tpid), 0).map_err(DatapathError::map("WIRE_CFG"))?;
    for (name, dir_, pin) in [
        ("wire_untag", TcAttachType::Ingress, "link_in"),
        ("wire_tag", TcAttachType::Egress, "link_out"),
    ] {
        let prog = ebpf.program_mut(name).ok_or(DatapathError::Missing { what: "wire program" })?;
        let prog: &mut SchedClassifier = prog.try_into().map_err(DatapathError::program("wire"))?;
        prog.load().map_err(DatapathError::program("wire"))?;
        let opts = TcAttachOptions::TcxOrder(LinkOrder::default());
        let id =
            prog.attach_with_options(iface, dir_, opts).map_err(DatapathError::program("wire"))?;
        let link = FdLink::try_from(prog.take_link(id).map_err(DatapathError::program("wire"))?)
            .map_err(|e| DatapathError::Link { path: d.join(pin), source: Box::new(e) })?;
        link.pin(d.join(pin))
            .map_err(|e| DatapathError::Pin { path: d.join(pin), source: Box::new(e) })?;
    }
    Ok(())
}

/// [tagged with our VLAN, untagged, tagged with another VLAN] seen on
/// ingress, then egress frames with skb->priority 7 (`vid` 0 installs a
/// counter that tags nothing, e.g. on the node's uplink).
pub fn stats(pin_root: &Path, iface: &str) -> Result<[u64; 4], DatapathError> {
    let data = MapData::from_pin(dir(pin_root, iface).join("WIRE_STATS"))
        .map_err(DatapathError::map("WIRE_STATS"))?;
    let map: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(Map::PerCpuArray(data)).map_err(DatapathError::map("WIRE_STATS"))?;
    let mut out = [0u64; 4];
    for (i, slot) in (0u32..).zip(out.iter_mut()) {
        *slot = map.get(&i, 0).map_err(DatapathError::map("WIRE_STATS"))?.iter().sum();
    }
    Ok(out)
}

/// Detaches the tagger and removes its pins.
pub fn remove(pin_root: &Path, iface: &str) -> Result<(), DatapathError> {
    let d = dir(pin_root, iface);
    for pin in ["link_in", "link_out"] {
        if let Ok(link) = PinnedLink::from_pin(d.join(pin)) {
            let _ = link.unpin();
        }
    }
    let _ = fs::remove_dir_all(&d);
    Ok(())
}
