use super::*;
use crate::config::{DriverRange, VfDefaults, VfRange};

fn range(first: u32, last: u32, driver: &str) -> DriverRange {
    DriverRange { vfs: VfRange { first, last }, driver: driver.into() }
}

fn want() -> PfConfig {
    PfConfig {
        name: Some("eth1".into()),
        numvfs: Some(7),
        drivers: vec![range(0, 3, "igbvf"), range(4, 6, "vfio-pci")],
        mtu: Some(9000),
        hw_timestamping: true,
        vf_defaults: VfDefaults { spoofchk: Some(false), trust: Some(true), link_state: None },
        ..PfConfig::default()
    }
}

fn vf(driver: &str) -> VfNow {
    VfNow {
        driver: Some(driver.into()),
        spoofchk: Some(false),
        trust: Some(true),
        link_state: Some(LinkState::Auto),
    }
}

/// The PF exactly as `want()` asks.
fn provisioned() -> PfNow {
    let mut vfs: Vec<VfNow> = (0..4).map(|_| vf("igbvf")).collect();
    vfs.extend((4..7).map(|_| vf("vfio-pci")));
    PfNow {
        numvfs: 7,
        totalvfs: Some(7),
        mtu: Some(9000),
        up: true,
        hw_timestamping: Some(true),
        vfs,
    }
}

fn none() -> BTreeSet<u32> {
    BTreeSet::new()
}

#[test]
fn a_provisioned_pf_needs_nothing() {
    assert_eq!(plan(&want(), &provisioned(), &none()), Plan::default());
}

#[test]
fn a_bare_pf_gets_numvfs_then_every_vf_as_new() {
    let now = PfNow { numvfs: 0, totalvfs: Some(7), mtu: Some(1500), ..PfNow::default() };
    let p = plan(&want(), &now, &none());
    assert!(p.refused.is_empty(), "{p:?}");
    let text: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        &text[..4],
        ["numvfs 0 -> 7", "mtu 1500 -> 9000", "link down -> up", "hardware timestamping off -> on"]
    );
    assert_eq!(text[4], "vf 0 driver none -> igbvf");
    assert!(text.contains(&"vf 6 driver none -> vfio-pci".to_owned()), "{text:?}");
    assert!(text.contains(&"vf 6 trust unknown -> true".to_owned()), "{text:?}");
    assert_eq!(p.changes.len(), 4 + 7 * 3, "{text:?}");
}

#[test]
fn only_what_differs_is_changed() {
    let mut now = provisioned();
    now.vfs[5].driver = Some("igbvf".into());
    now.vfs[2].spoofchk = Some(true);
    now.mtu = Some(1500);
    let p = plan(&want(), &now, &none());
    let text: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        ["mtu 1500 -> 9000", "vf 2 spoofchk true -> false", "vf 5 driver igbvf -> vfio-pci"]
    );
    assert_eq!(p.changes[1].kind(), "spoofchk");
}

#[test]
fn numvfs_is_refused_while_a_vf_is_live_and_live_vfs_are_left_alone() {
    let mut now = provisioned();
    now.vfs[1].spoofchk = Some(true);
    now.vfs[2].spoofchk = Some(true);
    let mut w = want();
    w.numvfs = Some(3);
    w.drivers = vec![range(0, 2, "igbvf")];
    let live = BTreeSet::from([1]);
    let p = plan(&w, &now, &live);
    assert_eq!(p.refused.len(), 1, "{p:?}");
    assert_eq!(p.refused[0].reason, "live_attachments");
    let text: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
    // VF 1 is live: its drifted spoofchk stays; VF 2 is not.
    assert_eq!(text, ["vf 2 spoofchk true -> false"]);
}

#[test]
fn force_changes_numvfs_under_live_attachments() {
    let mut w = want();
    w.numvfs = Some(3);
    w.drivers = vec![];
    w.force = true;
    let p = plan(&w, &provisioned(), &BTreeSet::from([1]));
    assert!(p.refused.is_empty());
    assert_eq!(p.changes[0], Change::NumVfs { from: 7, to: 3 });
}

#[test]
fn numvfs_beyond_totalvfs_is_refused() {
    let mut w = want();
    w.numvfs = Some(8);
    w.drivers = vec![];
    let p = plan(&w, &provisioned(), &none());
    assert_eq!(p.refused[0].reason, "beyond_totalvfs");
    assert!(p.changes.is_empty(), "{p:?}");
}

#[test]
fn settings_the_driver_does_not_report_are_not_managed() {
    let mut now = provisioned();
    now.vfs[0].trust = None;
    let mut w = want();
    w.vf_defaults.link_state = Some(crate::config::LinkStateName(LinkState::Enable));
    now.vfs.iter_mut().for_each(|v| v.link_state = None);
    assert_eq!(plan(&w, &now, &none()), Plan::default());
}

#[test]
fn a_pf_left_down_on_purpose_stays_down() {
    let mut now = provisioned();
    now.up = false;
    let mut w = want();
    w.up = Some(false);
    assert_eq!(plan(&w, &now, &none()), Plan::default());
    w.up = None;
    assert_eq!(plan(&w, &now, &none()).changes, [Change::Up]);
}
