//! The eBPF object built from `ebpf/murmuration-ebpf`, and its programs
//! pinned once per uplink: every later process (each CNI call is one) opens
//! the pinned programs instead of loading and verifying them again.
//!
//! Program pins carry a tag of the object's bytes (`prog_<tag>_uplink`), so
//! an upgraded plugin sees that the pinned programs are not its own, loads
//! the new ones and moves every link over (BPF_LINK_UPDATE, atomic).

use std::collections::BTreeSet;
use std::path::PathBuf;

use aya::maps::MapData;
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{ProgramInfo, SchedClassifier, Xdp};
use aya::{Ebpf, EbpfLoader};
use aya_obj::programs::XdpAttachType;
use murmuration_common::prog_names;
use sha2::{Digest, Sha256};

use super::error::DatapathError;
use super::pins::{MAPS, PinDir};

/// The data plane object, built by `build.rs`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/murmuration"));

const PROG_PREFIX: &str = "prog_";

/// The programs of an uplink, opened from their pins.
#[derive(Debug)]
pub struct Programs {
    pub uplink: SchedClassifier,
    pub pod: SchedClassifier,
    pub xdp: Xdp,
}

/// The tc programs (both `SchedClassifier`).
const TC_PROGS: [&str; 2] = [prog_names::UPLINK_INGRESS, prog_names::POD_EGRESS];

/// 12 hex digits of SHA-256 of the object.
pub fn tag() -> String {
    let digest = Sha256::digest(OBJECT);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Pin paths of the uplink, pod and XDP programs.
fn prog_pins(dir: &PinDir) -> [PathBuf; 3] {
    let tag = tag();
    ["uplink", "pod", "xdp"].map(|p| dir.join(&format!("{PROG_PREFIX}{tag}_{p}")))
}

fn open_pinned(pins: &[PathBuf; 3]) -> Result<Programs, DatapathError> {
    let tc =
        |pin: &PathBuf, name| SchedClassifier::from_pin(pin).map_err(DatapathError::program(name));
    Ok(Programs {
        uplink: tc(&pins[0], prog_names::UPLINK_INGRESS)?,
        pod: tc(&pins[1], prog_names::POD_EGRESS)?,
        xdp: Xdp::from_pin(&pins[2], XdpAttachType::Interface)
            .map_err(DatapathError::program(prog_names::UPLINK_XDP))?,
    })
}

/// Opens this object's pinned programs, loading and pinning them first if
/// they are not there. The flag says whether they were freshly loaded (links
/// made by other programs must then be moved over).
pub fn ensure_loaded(dir: &PinDir) -> Result<(Programs, bool), DatapathError> {
    let pins = prog_pins(dir);
    // A missing map pin that `recover_map_pins` could not bring back: load
    // again, which keeps the maps still pinned and pins new ones for the rest.
    let maps_pinned = MAPS.iter().all(|m| dir.join(m).exists());
    if maps_pinned && pins.iter().all(|p| p.exists()) {
        match open_pinned(&pins) {
            Ok(p) => return Ok((p, false)),
            Err(e) => tracing::warn!(error = %e, "pinned programs unusable; reloading"),
        }
    }
    let mut ebpf = load(dir)?;
    let names = [prog_names::UPLINK_INGRESS, prog_names::POD_EGRESS, prog_names::UPLINK_XDP];
    for (name, pin) in names.into_iter().zip(&pins) {
        let _ = std::fs::remove_file(pin);
        let prog = ebpf.program_mut(name).ok_or(DatapathError::Missing { what: name })?;
        prog.pin(pin).map_err(|e| DatapathError::Pin { path: pin.clone(), source: Box::new(e) })?;
    }
    drop(ebpf);
    Ok((open_pinned(&pins)?, true))
}

/// Re-pins maps whose pins are missing from the maps the uplink's running
/// programs use (found through the pinned programs and links of the
/// directory). Only adds pins; returns how many it added.
pub fn recover_map_pins(dir: &PinDir) -> Result<usize, DatapathError> {
    let missing: Vec<&str> = MAPS.iter().copied().filter(|m| !dir.join(m).exists()).collect();
    if missing.is_empty() {
        return Ok(0);
    }
    let mut recovered = 0;
    for map_id in running_map_ids(dir)? {
        let Ok(map) = MapData::from_id(map_id) else { continue };
        let Some(name) = map.info().ok().and_then(|i| i.name_as_str().map(str::to_owned)) else {
            continue;
        };
        let Some(&name) = missing.iter().find(|&&m| m == name) else { continue };
        let path = dir.join(name);
        if path.exists() {
            continue;
        }
        map.pin(&path)
            .map_err(|e| DatapathError::Pin { path: path.clone(), source: Box::new(e) })?;
        tracing::warn!(pin = %path.display(), "map pin was missing; re-pinned from the running programs");
        recovered += 1;
    }
    Ok(recovered)
}

/// Ids of the maps used by the programs pinned (or linked) in `dir`.
fn running_map_ids(dir: &PinDir) -> Result<BTreeSet<u32>, DatapathError> {
    let mut prog_ids = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for name in dir.entries()? {
        let path = dir.join(&name);
        if name.starts_with(PROG_PREFIX) {
            if let Ok(info) = ProgramInfo::from_pin(&path) {
                ids.extend(info.map_ids().ok().flatten().unwrap_or_default());
            }
        } else if name.starts_with("link_")
            && let Ok(link) = PinnedLink::from_pin(&path)
            && let Ok(info) = FdLink::from(link).info()
        {
            prog_ids.insert(info.program_id());
        }
    }
    if !prog_ids.is_empty() {
        for info in aya::programs::loaded_programs().filter_map(Result::ok) {
            if prog_ids.contains(&info.id()) {
                ids.extend(info.map_ids().ok().flatten().unwrap_or_default());
            }
        }
    }
    Ok(ids)
}

/// Removes pinned programs of other object versions (after their links moved).
pub fn unpin_stale(dir: &PinDir) -> Result<(), DatapathError> {
    let own = format!("{PROG_PREFIX}{}_", tag());
    for name in dir.entries()? {
        if name.starts_with(PROG_PREFIX) && !name.starts_with(&own) {
            let path = dir.join(&name);
            std::fs::remove_file(&path).map_err(DatapathError::io("unpinning", path))?;
        }
    }
    Ok(())
}

/// Loads the object with its maps pinned under `dir` (existing pins are
/// reused, so counters and entries survive) and loads every program.
fn load(dir: &PinDir) -> Result<Ebpf, DatapathError> {
    let mut loader = EbpfLoader::new();
    let paths: Vec<(&str, PathBuf)> = MAPS.iter().map(|&m| (m, dir.join(m))).collect();
    for (name, path) in &paths {
        loader.map_pin_path(name, path.as_path());
    }
    let mut ebpf = loader.load(OBJECT).map_err(|e| DatapathError::Load(Box::new(e)))?;
    load_programs(&mut ebpf)?;
    Ok(ebpf)
}

fn load_programs(ebpf: &mut Ebpf) -> Result<(), DatapathError> {
    for name in TC_PROGS {
        classifier(ebpf, name)?.load().map_err(DatapathError::program(name))?;
    }
    let name = prog_names::UPLINK_XDP;
    let prog = ebpf.program_mut(name).ok_or(DatapathError::Missing { what: name })?;
    let xdp: &mut Xdp = prog.try_into().map_err(DatapathError::program(name))?;
    xdp.load().map_err(DatapathError::program(name))
}

fn classifier<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut SchedClassifier, DatapathError> {
    let prog = ebpf.program_mut(name).ok_or(DatapathError::Missing { what: name })?;
    prog.try_into().map_err(DatapathError::program(name))
}

/// Whether this kernel accepts the programs: loads the object with private,
/// unpinned maps and runs the verifier on every program. Nothing is attached.
pub fn probe() -> Result<(), DatapathError> {
    let mut ebpf = EbpfLoader::new().load(OBJECT).map_err(|e| DatapathError::Load(Box::new(e)))?;
    load_programs(&mut ebpf)
}

/// The wire-side VLAN tagger (TEST DOUBLE, see `testing`).
#[cfg(feature = "testing")]
pub static WIRE_TAGGER: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/wire-tagger"));
