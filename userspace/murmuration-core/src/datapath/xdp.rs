//! The optional XDP program on the uplink (`uplinkXdp`), in front of the tc
//! program: a BPF link pinned as `link_xdp_native` or `link_xdp_generic`.
//!
//! XDP cannot see a VLAN tag that the NIC moved into metadata (RX VLAN
//! offload), so native XDP is only chosen, or accepted, on an uplink whose
//! rx-vlan-offload is off; the program itself leaves untagged-looking
//! frames to tc (see `ebpf/murmuration-ebpf/src/xdp.rs`).

use std::path::Path;

use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::xdp::XdpLink;
use aya::programs::{Xdp, XdpMode};

use super::error::DatapathError;
use super::pins::PinDir;
use super::{sys, tc};

use crate::cni::config::fastpath::UplinkXdp;

/// The XDP flavour running on the uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpFlavour {
    Native,
    Generic,
}

impl XdpFlavour {
    fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Generic => "generic",
        }
    }

    fn pin(self) -> &'static str {
        match self {
            Self::Native => "link_xdp_native",
            Self::Generic => "link_xdp_generic",
        }
    }

    fn mode(self) -> XdpMode {
        match self {
            Self::Native => XdpMode::Driver,
            Self::Generic => XdpMode::Skb,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Native => Self::Generic,
            Self::Generic => Self::Native,
        }
    }
}

/// Brings the uplink's XDP program into the state `want` asks for; returns
/// the flavour now running (None: tc only).
pub fn apply(
    prog: &mut Xdp,
    iface: &str,
    dir: &PinDir,
    want: UplinkXdp,
) -> Result<Option<XdpFlavour>, DatapathError> {
    let flavour = match want {
        UplinkXdp::Off => None,
        UplinkXdp::Generic => Some(XdpFlavour::Generic),
        UplinkXdp::Native => {
            if sys::rx_vlan_offload(iface)? {
                return Err(DatapathError::RxVlanOffload { iface: iface.to_owned() });
            }
            Some(XdpFlavour::Native)
        }
        UplinkXdp::Auto => {
            if sys::rx_vlan_offload(iface).unwrap_or(true) {
                tracing::info!(iface, "rx-vlan-offload is on: no XDP, tc only");
                None
            } else {
                Some(XdpFlavour::Native)
            }
        }
    };
    let Some(flavour) = flavour else {
        detach(dir)?;
        return Ok(None);
    };
    match attach(prog, iface, dir, flavour) {
        Ok(()) => Ok(Some(flavour)),
        Err(e) if want == UplinkXdp::Auto => {
            tracing::info!(iface, error = %e, "no native XDP on the uplink: tc only");
            detach(dir)?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Refuses `want` when it contradicts what the uplink's other ports run:
/// the XDP program serves every tenant of the uplink, so one network's ADD
/// must not switch it under the others.
pub fn check_consistent(uplink: &str, dir: &Path, want: UplinkXdp) -> Result<(), DatapathError> {
    let running = attached(dir);
    let conflict = match want {
        UplinkXdp::Off => running.is_some(),
        UplinkXdp::Generic => running != Some(XdpFlavour::Generic),
        UplinkXdp::Native => running != Some(XdpFlavour::Native),
        // Auto never picks generic; it accepts native or tc only.
        UplinkXdp::Auto => running == Some(XdpFlavour::Generic),
    };
    if !conflict {
        return Ok(());
    }
    Err(DatapathError::UplinkConflict {
        uplink: uplink.to_owned(),
        key: "uplinkXdp",
        running: running.map_or("off", XdpFlavour::name).to_owned(),
        asked: format!("{want:?}").to_lowercase(),
    })
}

/// Detaches the XDP program (both flavours); missing links count as done.
pub fn detach(dir: &PinDir) -> Result<(), DatapathError> {
    for f in [XdpFlavour::Native, XdpFlavour::Generic] {
        tc::detach(None, &dir.join(f.pin()))?;
    }
    Ok(())
}

/// The flavour whose link is pinned, if any.
pub fn attached(dir: &Path) -> Option<XdpFlavour> {
    [XdpFlavour::Native, XdpFlavour::Generic].into_iter().find(|f| dir.join(f.pin()).exists())
}

fn attach(
    prog: &mut Xdp,
    iface: &str,
    dir: &PinDir,
    flavour: XdpFlavour,
) -> Result<(), DatapathError> {
    // One XDP program per device: the other flavour goes first.
    tc::detach(None, &dir.join(flavour.other().pin()))?;
    let pin = dir.join(flavour.pin());
    if update_pinned(prog, &pin) {
        return Ok(());
    }
    let err = |source| DatapathError::Attach {
        prog: "uplink_xdp",
        iface: iface.to_owned(),
        source: Box::new(source),
    };
    let id = prog.attach(iface, flavour.mode()).map_err(err)?;
    let link = prog.take_link(id).map_err(DatapathError::program("take_link"))?;
    let link_err = |e| DatapathError::Link { path: pin.clone(), source: Box::new(e) };
    let fd = FdLink::try_from(link).map_err(link_err)?;
    fd.pin(&pin).map_err(|e| DatapathError::Pin { path: pin.clone(), source: Box::new(e) })?;
    Ok(())
}

/// Points an existing pinned XDP link at `prog` (BPF_LINK_UPDATE, atomic).
/// False if there is no usable pinned link; an unusable pin is removed.
fn update_pinned(prog: &mut Xdp, pin: &Path) -> bool {
    let Ok(pinned) = PinnedLink::from_pin(pin) else {
        return false;
    };
    let Ok(link) = XdpLink::try_from(FdLink::from(pinned)) else {
        let _ = std::fs::remove_file(pin);
        return false;
    };
    match prog.attach_to_link(link) {
        Ok(id) => {
            // Still pinned: drop only our handle (closes our fd).
            if let Ok(link) = prog.take_link(id) {
                drop(FdLink::try_from(link));
            }
            true
        }
        Err(e) => {
            tracing::info!(pin = %pin.display(), error = %e, "pinned XDP link unusable; recreating");
            let _ = std::fs::remove_file(pin);
            false
        }
    }
}
