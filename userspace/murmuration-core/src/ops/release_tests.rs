//! What `release` sends and what it keeps: a recorded netlink client, a
//! store in a temporary directory and a fake IPAM that records its calls.

use std::cell::RefCell;
use std::collections::HashMap;

use super::release;
use crate::cni::env::CniPath;
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::result::CniResult;
use crate::ipam::{Invocation, Ipam};
use crate::netlink::Netlink;
use crate::netlink::canned::summary;
use crate::netlink::recorder::{self, Recorder, Reply};
use crate::state::{Record, Store, fixture};
use serde_json::value::RawValue;

/// An IPAM that records the identity each DEL was made for.
#[derive(Default)]
struct FakeIpam {
    dels: RefCell<Vec<Vec<(&'static str, String)>>>,
}

impl Ipam for FakeIpam {
    fn add(&self, _: &Invocation<'_>) -> Result<CniResult, CniError> {
        unreachable!("release never allocates")
    }
    fn del(&self, inv: &Invocation<'_>) -> Result<(), CniError> {
        self.dels.borrow_mut().push(inv.overrides.clone());
        Ok(())
    }
    fn check(&self, _: &Invocation<'_>) -> Result<(), CniError> {
        unreachable!()
    }
    fn status(&self, _: &Invocation<'_>) -> Result<(), CniError> {
        unreachable!()
    }
    fn gc(&self, _: &Invocation<'_>) -> Result<(), CniError> {
        unreachable!()
    }
}

/// A veth attachment whose ADD finished (it has a result), saved in `store`.
fn saved(store: &Store, ipam_allocated: bool) -> Record {
    let rec =
        Record { ipam_allocated, result: Some(CniResult::default()), ..fixture("c1", "eth0") };
    store.save(&rec).expect("save");
    rec
}

fn lines(nl: &Netlink<Recorder>) -> Vec<String> {
    nl.recorder().requests().iter().map(|(h, m)| summary(h, m)).collect()
}

fn run(
    rec: &Record,
    store: &Store,
    script: Vec<Reply>,
    ipam: Option<&dyn Ipam>,
) -> (Vec<CniError>, Vec<String>) {
    let mut nl = recorder::netlink(script);
    let path = CniPath::parse("/opt/cni/bin:/usr/lib/cni");
    let errors = release(rec, store, &mut nl, &path, ipam, &HashMap::new());
    (errors, lines(&nl))
}

#[test]
fn a_veth_attachment_is_one_delete_of_its_host_end_its_lease_and_its_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let rec = saved(&store, true);
    let ipam = FakeIpam::default();
    let (errors, sent) = run(&rec, &store, vec![Reply::Ack], Some(&ipam));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sent, ["del mm0123456789abc [ack]"]);
    let dels = ipam.dels.borrow();
    assert_eq!(dels.len(), 1, "one IPAM DEL");
    let env: HashMap<_, _> = dels[0].iter().cloned().collect();
    assert_eq!(env["CNI_CONTAINERID"], "c1");
    assert_eq!(env["CNI_IFNAME"], "eth0");
    assert_eq!(env["CNI_NETNS"], "/var/run/netns/x");
    assert_eq!(env["CNI_PATH"], "/opt/cni/bin:/usr/lib/cni");
    assert!(store.load(&rec.id()).expect("load").is_none(), "record removed");
}

#[test]
fn a_host_end_that_is_already_gone_is_released_all_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let rec = saved(&store, false);
    let (errors, sent) = run(&rec, &store, vec![Reply::Errno(libc::ENODEV)], None);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sent, ["del mm0123456789abc [ack]"]);
    assert!(store.load(&rec.id()).expect("load").is_none());
}

#[test]
fn a_refused_delete_keeps_the_record_for_the_next_del() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let rec = saved(&store, false);
    let (errors, _) = run(&rec, &store, vec![Reply::Errno(libc::EPERM)], None);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, ErrorCode::Netlink as u32);
    assert!(store.load(&rec.id()).expect("load").is_some(), "record kept");
}

#[test]
fn a_record_from_an_earlier_boot_sends_nothing_and_releases_only_its_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let rec = Record { boot_id: Some("an-earlier-boot".into()), ..saved(&store, true) };
    let ipam = FakeIpam::default();
    let (errors, sent) = run(&rec, &store, vec![], Some(&ipam));
    assert!(errors.is_empty(), "{errors:?}");
    assert!(sent.is_empty(), "no netlink request: {sent:?}");
    assert_eq!(ipam.dels.borrow().len(), 1, "the lease is released");
    assert!(store.load(&rec.id()).expect("load").is_none());
}

#[test]
fn the_recorded_ipam_is_used_before_the_callers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let config = r#"{"cniVersion":"1.1.0","name":"net-a","type":"murmuration","mode":"veth",
        "ipamInProcess":true,"ipam":{"type":"static","addresses":[{"address":"10.0.0.5/24"}]}}"#;
    let rec = Record {
        config: RawValue::from_string(config.into()).expect("raw"),
        ..saved(&store, true)
    };
    let fallback = FakeIpam::default();
    let (errors, _) = run(&rec, &store, vec![Reply::Ack], Some(&fallback));
    assert!(errors.is_empty(), "{errors:?}");
    assert!(fallback.dels.borrow().is_empty(), "the caller's IPAM is not asked");
    assert!(store.load(&rec.id()).expect("load").is_none());
}

#[test]
fn a_lease_no_ipam_can_release_does_not_hold_the_del_for_ever() {
    // The recorded config names no IPAM (as after an upgrade that no longer
    // accepts its `ipam` section) and the caller brings none either.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let rec = saved(&store, true);
    let (errors, sent) = run(&rec, &store, vec![Reply::Ack], None);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sent, ["del mm0123456789abc [ack]"]);
    assert!(store.load(&rec.id()).expect("load").is_none());
}
