//! The guest itself: SR-IOV, 802.1Q and the wire work before any plugin test relies on them.
#![cfg(target_env = "musl")]

use murmuration_vm_tests::cmd::{ip, link};
use murmuration_vm_tests::sriov::{NUM_VFS, Sriov};

#[test]
fn guest_has_a_pf_with_seven_vfs_and_a_wire() {
    let s = Sriov::fresh();
    assert_eq!(s.vfs.len(), NUM_VFS as usize);
    for vf in &s.vfs {
        assert!(link(None, &vf.netdev).is_some(), "VF {} netdev {}", vf.index, vf.netdev);
        let info = s.vf_info(vf.index);
        assert_eq!(info["vf"], vf.index);
    }
    assert!(link(None, &s.wire).is_some());
    ip(&["link", "add", "link", &s.wire, "name", "probe.5", "type", "vlan", "id", "5"]);
    let v = link(None, "probe.5").expect("vlan link");
    assert_eq!(v["linkinfo"]["info_kind"], "vlan");
    ip(&["link", "del", "probe.5"]);
}
