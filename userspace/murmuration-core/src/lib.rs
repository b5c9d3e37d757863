//! murmuration's core: everything the CNI plugin and the node daemon share.
//!
//! - [`plugin`]: the plugin's entry point (env and stdin in, one JSON
//!   document out), which runs a verb.
//! - [`cni`]: the protocol (env, config, results, errors, versions): types
//!   and input parsing only, the layer everything else builds on.
//! - [`ops`]: the verbs ADD, DEL, CHECK, STATUS and GC.
//! - [`attach`]: attachment modes (veth, SR-IOV VFs, 802.1Q subinterfaces).
//! - [`datapath`]: the eBPF fast path of veth attachments (maps, programs, pins).
//! - [`ipam`]: IP address management behind one trait.
//! - [`netlink`], [`netns`]: kernel access, without shelling out.
//! - [`state`]: per-attachment records and locks under `dataDir`.
//! - [`sysfs`]: SR-IOV topology (a VF's PF and index) from an injectable sysfs root.
//! - [`oplog`]: the per-invocation operation record the node daemon reads.
//! - [`fault`]: named kill points in ADD and DEL (only with the `testing` feature).
//! - [`test_hooks`]: pause points for race tests (`testing` feature only).

pub mod attach;
pub mod cni;
mod codes;
pub mod datapath;
pub mod fault;
pub mod ipam;
pub mod log;
pub mod netlink;
pub mod netns;
pub mod oplog;
pub mod ops;
pub mod plugin;
pub mod ptp;
pub mod state;
pub mod sysfs;
pub mod test_hooks;
