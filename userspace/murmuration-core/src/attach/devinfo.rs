//! The NPWG device-info file (spec 1.1.0) for the VF an attachment holds,
//! written where the runtime asks (`runtimeConfig.CNIDeviceInfoFile`).

use std::io;
use std::path::Path;

use serde_json::{Value, json};

use crate::sysfs::VfDevice;

/// The document: `type: pci` with the VF's and its PF's PCI addresses.
pub fn document(dev: &VfDevice) -> Value {
    json!({
        "type": "pci",
        "version": "1.1.0",
        "pci": {
            "pci-address": dev.pci,
            "pf-pci-address": dev.pf_pci,
        }
    })
}

/// Writes the file atomically (directories created as needed).
pub fn write(path: &Path, dev: &VfDevice) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = serde_json::to_vec(&document(dev)).map_err(io::Error::other)?;
    crate::state::atomic_write(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_vf_and_pf() {
        let dev = VfDevice {
            pci: "0000:01:10.0".into(),
            pf_pci: "0000:01:00.0".into(),
            pf_netdev: "eth0".into(),
            index: 0,
            driver: Some("vfio-pci".into()),
            netdev: None,
        };
        let d = document(&dev);
        assert_eq!(d["type"], "pci");
        assert_eq!(d["version"], "1.1.0");
        assert_eq!(d["pci"]["pci-address"], "0000:01:10.0");
        assert_eq!(d["pci"]["pf-pci-address"], "0000:01:00.0");
    }
}
