//! A pod network namespace (`ip netns add`), deleted when dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cmd::{IP, ip, output};

#[derive(Debug)]
pub struct Pod {
    pub name: String,
    deleted: bool,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Pod {
    pub fn new(tag: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("mm-{tag}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        Self { name, deleted: false }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Deletes the namespace now (as a runtime does when a pod dies before DEL).
    pub fn delete(&mut self) {
        ip(&["netns", "del", &self.name]);
        self.deleted = true;
    }

    /// `ip -n <pod> <args>`, asserting success.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if !self.deleted {
            let _ = output(IP, &["netns", "del", &self.name]);
        }
    }
}
