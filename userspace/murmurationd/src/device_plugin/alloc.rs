//! The pure parts of allocation: which VFs to prefer, the environment
//! variable that names them, the vfio device nodes, the device-info path.

use std::path::{Path, PathBuf};

use super::scan::Vf;

/// `PCIDEVICE_<RESOURCE>`: the resource name upper-cased with every
/// non-alphanumeric character as `_` (the SR-IOV device plugin's naming,
/// which CNI plugins and DPDK applications read).
pub fn env_name(resource: &str) -> String {
    let tail: String = resource
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    format!("PCIDEVICE_{tail}")
}

/// Where the NPWG device-info file of device `id` of `resource` goes:
/// `<dir>/<resource with / as ->-<id>-device.json`.
pub fn devinfo_path(dir: &Path, resource: &str, id: &str) -> PathBuf {
    dir.join(format!("{}-{}-device.json", resource.replace('/', "-"), id.replace('/', "-")))
}

/// The NUMA node the allocation should stay on: that of the must-include
/// devices if they have one, else the node with the most available VFs
/// (the lowest such node on a tie).
fn target_node(candidates: &[&Vf], must: &[&Vf]) -> Option<i64> {
    if let Some(n) = must.iter().find_map(|v| v.numa) {
        return Some(n);
    }
    let mut nodes: Vec<i64> = candidates.iter().filter_map(|v| v.numa).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let count = |n: i64| candidates.iter().filter(|v| v.numa == Some(n)).count();
    nodes.into_iter().max_by_key(|&n| (count(n), std::cmp::Reverse(n)))
}

/// GetPreferredAllocation for one container: the must-include IDs, then
/// available VFs on the same NUMA node, then by lowest VF index (PF name,
/// then index). IDs the pool does not know come last, in the kubelet's order.
pub fn preferred(pool: &[Vf], available: &[String], must: &[String], size: usize) -> Vec<String> {
    let find = |id: &String| pool.iter().find(|v| v.id() == id);
    let must_vfs: Vec<&Vf> = must.iter().filter_map(find).collect();
    let mut known: Vec<&Vf> =
        available.iter().filter(|id| !must.contains(id)).filter_map(find).collect();
    let target = target_node(&known, &must_vfs);
    known.sort_by_key(|v| (v.numa != target, v.dev.index, v.dev.pf_netdev.clone()));
    let unknown = available.iter().filter(|id| !must.contains(id) && find(id).is_none());
    must.iter()
        .cloned()
        .chain(known.into_iter().map(|v| v.id().to_owned()))
        .chain(unknown.cloned())
        .take(size.max(must.len()))
        .collect()
}

/// A device node for the container: its host path and its path inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub host: PathBuf,
    pub container: PathBuf,
}

/// The vfio nodes a userspace-driver VF needs: `vfio/vfio` and its group
/// (`vfio/noiommu-<group>` when vfio runs without an IOMMU).
pub fn vfio_nodes(vf: &Vf, dev_dir: &Path) -> Vec<Node> {
    let (Some("vfio-pci"), Some(group)) = (vf.dev.driver.as_deref(), vf.iommu_group.as_deref())
    else {
        return Vec::new();
    };
    let noiommu = format!("noiommu-{group}");
    let name =
        if dev_dir.join("vfio").join(&noiommu).exists() { noiommu } else { group.to_owned() };
    ["vfio".to_owned(), name]
        .into_iter()
        .map(|n| Node {
            host: dev_dir.join("vfio").join(&n),
            container: Path::new("/dev/vfio").join(&n),
        })
        .collect()
}

#[cfg(test)]
#[path = "alloc_tests.rs"]
mod tests;
