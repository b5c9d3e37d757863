use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::cni::types::{ContainerId, IfName};
use crate::state::fixture;

fn id(c: &str, i: &str) -> AttachmentId {
    AttachmentId {
        container_id: ContainerId::parse(c).expect("cid"),
        ifname: IfName::parse(i).expect("ifname"),
    }
}

fn record(c: &str, i: &str) -> Record {
    fixture(c, i)
}

#[test]
fn save_load_remove_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let r = record("c1", "net1");
    store.save(&r).expect("save");
    let path = dir.path().join("attachments/c1@net1.json");
    assert_eq!(fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
    let loaded = store.load(&r.id()).expect("load").expect("present");
    assert_eq!(loaded.config.get(), r.config.get());
    assert_eq!(loaded.host_ifname, r.host_ifname);
    store.remove(&r.id()).expect("remove");
    store.remove(&r.id()).expect("second remove is fine");
    assert!(store.load(&r.id()).expect("load").is_none());
}

#[test]
fn list_sorts_and_reports_corrupt_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    store.save(&record("c2", "net1")).expect("save");
    store.save(&record("c1", "net2")).expect("save");
    fs::write(dir.path().join("attachments/bad@x.json"), b"{").expect("write");
    let (records, errors) = store.list();
    let ids: Vec<_> = records.iter().map(|r| r.container_id.to_string()).collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert_eq!(errors.len(), 1);
}

#[test]
fn attachment_locks_are_independent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let _a = store.lock_attachment(&id("c1", "net1")).expect("lock a");
    let _b = store.lock_attachment(&id("c2", "net1")).expect("lock b does not wait for a");
    let _s1 = store.lock_store(false).expect("shared");
    let _s2 = store.lock_store(false).expect("shared twice");
}

#[test]
fn try_lock_attachment_reports_a_held_lock_without_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let held = store.lock_attachment(&id("c1", "net1")).expect("lock");
    let busy = store.try_lock_attachment(&id("c1", "net1")).expect("try");
    assert!(busy.is_none(), "a held attachment lock is reported busy");
    assert!(store.try_lock_attachment(&id("c2", "net1")).expect("try other").is_some());
    drop(held);
    assert!(store.try_lock_attachment(&id("c1", "net1")).expect("try again").is_some());
}

#[test]
fn atomic_write_replaces_whole_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("f");
    atomic_write(&p, b"first, longer").expect("write");
    atomic_write(&p, b"second").expect("write");
    assert_eq!(fs::read(&p).expect("read"), b"second");
    assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1, "no temp file left");
}
