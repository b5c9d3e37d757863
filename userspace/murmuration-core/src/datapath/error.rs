//! The datapath's typed errors. Each variant names the object it failed on;
//! the kernel's or aya's reason is the `source`.

use std::path::PathBuf;

use aya::maps::MapError;
use aya::pin::PinError;
use aya::programs::ProgramError;
use aya::programs::links::LinkError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatapathError {
    #[error(
        "pin root {path} is not on a bpf filesystem (mount -t bpf bpf <dir>, or set bpfPinRoot)"
    )]
    NotBpffs { path: PathBuf },
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}")]
    Os {
        op: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("interface {name} not found")]
    NoInterface { name: String },
    #[error("loading the eBPF object")]
    Load(#[source] Box<aya::EbpfError>),
    #[error("program {name}")]
    Program {
        name: &'static str,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("attaching {prog} to {iface}")]
    Attach {
        prog: &'static str,
        iface: String,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("map {name}")]
    Map {
        name: &'static str,
        #[source]
        source: Box<MapError>,
    },
    #[error("map PORT_DEVS (XDP redirect targets)")]
    PortDevs(#[source] Box<aya::maps::xdp::XdpMapError>),
    #[error("pinned link {path}")]
    Link {
        path: PathBuf,
        #[source]
        source: Box<LinkError>,
    },
    #[error("pinning {path}")]
    Pin {
        path: PathBuf,
        #[source]
        source: Box<PinError>,
    },
    #[error("all {max} attachment ids of uplink {uplink} are in use")]
    Full { uplink: String, max: u32 },
    #[error("VLAN {vlan} already has {max} members on uplink {uplink} (the per-VLAN limit)")]
    VlanFull { uplink: String, vlan: u16, max: usize },
    #[error(
        "uplink {uplink} has {used} of its {max} (VLAN, MAC) entries in use; this port needs \
         {needed} more (an access port takes one, a trunk one per VLAN)"
    )]
    TableFull { uplink: String, used: usize, needed: usize, max: usize },
    #[error(
        "MAC {mac} on VLAN {vlan} (TPID {tpid:#06x}) of uplink {uplink} belongs to live \
         attachment {attach_id}; choose another MAC"
    )]
    MacInUse { uplink: String, vlan: u16, tpid: u16, mac: String, attach_id: u32 },
    #[error(
        "the fast path of uplink {uplink} is damaged ({reason}); nothing was removed: the next \
         ADD on this uplink re-pins what it can recover and reloads the rest"
    )]
    Damaged { uplink: String, reason: String },
    #[error(
        "uplink {uplink} runs {key} = {running} for its other attachments; this network asks \
         for {asked} (an uplink-wide setting: give every network on the uplink the same value)"
    )]
    UplinkConflict { uplink: String, key: &'static str, running: String, asked: String },
    #[error(transparent)]
    LockTimeout(crate::state::LockTimeout),
    #[error("invalid port: {reason}")]
    InvalidPort { reason: &'static str },
    #[error("{what} is missing from the eBPF object")]
    Missing { what: &'static str },
    #[error(
        "uplink {iface} has rx-vlan-offload on, which hides VLAN tags from XDP \
         (ethtool -K {iface} rxvlan off, or uplinkXdp auto/off)"
    )]
    RxVlanOffload { iface: String },
    #[error("pin directory {path} keeps disappearing")]
    Unstable { path: PathBuf },
}

impl DatapathError {
    pub(crate) fn map(name: &'static str) -> impl FnOnce(MapError) -> Self {
        move |source| Self::Map { name, source: Box::new(source) }
    }

    pub(crate) fn program(name: &'static str) -> impl FnOnce(ProgramError) -> Self {
        move |source| Self::Program { name, source: Box::new(source) }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }

    pub(crate) fn os(op: &'static str) -> impl FnOnce(nix::Error) -> Self {
        move |source| Self::Os { op, source }
    }

    /// The kernel refused the programs or a BPF feature they need: the node
    /// cannot run the fast path (as opposed to a transient failure).
    pub fn is_kernel_unsupported(&self) -> bool {
        matches!(self, Self::Load(_) | Self::Program { .. })
    }
}
