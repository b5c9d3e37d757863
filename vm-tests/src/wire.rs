//! The wire side: 802.1Q subinterfaces of the wire NIC and a private bpffs.

use crate::cmd::{IP, ip, output};

/// A VLAN subinterface `wire.<vid>` of the wire NIC with an address, deleted on drop.
#[derive(Debug)]
pub struct WireVlan(pub String);

impl WireVlan {
    pub fn new(wire: &str, vlan: u16, addr: &str) -> Self {
        let name = format!("wire.{vlan}");
        ip(&["link", "add", "link", wire, "name", &name, "type", "vlan", "id", &vlan.to_string()]);
        // No IPv6 chatter on the VLAN: tests count frames exactly.
        let v6 = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
        std::fs::write(&v6, "1").unwrap_or_else(|e| panic!("{v6}: {e}"));
        ip(&["addr", "add", addr, "dev", &name]);
        ip(&["link", "set", &name, "up"]);
        Self(name)
    }
}

impl Drop for WireVlan {
    fn drop(&mut self) {
        let _ = output(IP, &["link", "del", &self.0]);
    }
}

/// A bpffs on a fresh directory under /tmp (the guest's own /sys/fs/bpf is
/// left alone): [`Bpffs::mount_temp`].
pub use murmuration_testkit::bpffs::Bpffs;
