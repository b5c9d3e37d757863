//! A record to start tests from (test builds only).

use serde_json::value::RawValue;

use super::{PodRef, Record};
use crate::cni::config::Mode;
use crate::cni::types::{ContainerId, IfName};

/// A veth attachment `c`/`i` of network `net-a` whose lease was taken:
/// tests change what they need with struct update syntax.
pub(crate) fn fixture(c: &str, i: &str) -> Record {
    Record {
        format: Record::FORMAT,
        network: "net-a".into(),
        container_id: ContainerId::parse(c).expect("cid"),
        ifname: IfName::parse(i).expect("ifname"),
        netns: Some("/var/run/netns/x".into()),
        mode: Mode::Veth,
        host_ifname: Some("mm0123456789abc".into()),
        mac: None,
        mtu: Some(1400),
        pod: PodRef::default(),
        ipam_allocated: true,
        config: RawValue::from_string(r#"{"cniVersion":"1.1.0","name":"net-a"}"#.into())
            .expect("raw"),
        datapath: None,
        result: None,
        created_unix: 1,
        boot_id: None,
        vf: None,
    }
}
