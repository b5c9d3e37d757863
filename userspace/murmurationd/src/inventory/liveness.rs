//! Whether an attachment's pod is gone, judged from what the host shows:
//! pure, and the rule the cleanup acts on.
//!
//! An attachment is *stale* only on positive evidence that its pod is gone
//! ([`liveness`]). A namespace path the daemon cannot stat is not such
//! evidence on its own: under a DaemonSet without `hostPID` every
//! `/proc/<pid>/ns/net` fails to stat, and a path may live in a mount
//! namespace the daemon does not share. The evidence, gathered by the
//! executor (`inventory::attachments`):
//! - veth: the host end is gone. Destroying a namespace destroys its veth
//!   ends and with them their peers, so a missing host end means the pod end
//!   is gone too, whatever the path looked like.
//! - SR-IOV, kernel-driver VF: its netdev is back in the host namespace (the
//!   kernel returns physical devices there when their namespace is destroyed).
//! - otherwise (vlan, userspace-driver VFs, which leave nothing on the host):
//!   the path is gone from a directory the daemon can list, i.e. the
//!   runtime unlinked its bind mount (`/proc` paths never count).
//!
//! A path that can be stat'ed always means alive. Records without a
//! namespace path are never judged.

use serde::Serialize;

/// What the daemon sees of the namespace path a record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetnsPath {
    /// The record has no path.
    Unrecorded,
    /// It can be stat'ed.
    Present,
    /// Gone from a directory the daemon can list (not under `/proc`).
    Removed,
    /// It cannot be stat'ed and nothing says whether it exists elsewhere
    /// (another PID or mount namespace, an unlistable directory).
    Unseen,
}

/// What the host namespace shows of the pod's end of the attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostSide {
    /// veth mode: whether the host end exists.
    VethHostEnd { present: bool },
    /// SR-IOV with a kernel driver: whether the VF's netdev is in the host namespace.
    VfNetdev { in_host: bool },
    /// Nothing on the host to look at (vlan mode, userspace-driver VFs).
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub path: NetnsPath,
    pub host: HostSide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// No namespace path recorded: never judged.
    Unjudged,
    Alive,
    /// Positive evidence that the pod's end is gone.
    Gone,
    /// The path is not visible, but nothing proves the pod gone: kept.
    Unknown,
}

/// The rule above, from the evidence alone.
pub fn liveness(e: Evidence) -> Liveness {
    use {HostSide::*, Liveness::*, NetnsPath::*};
    match (e.path, e.host) {
        (Unrecorded, _) => Unjudged,
        (Present, _) => Alive,
        (_, VethHostEnd { present: false } | VfNetdev { in_host: true }) => Gone,
        (Removed, Nothing) => Gone,
        _ => Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_needs_positive_evidence() {
        use {HostSide::*, Liveness::*, NetnsPath::*};
        let veth = |present| VethHostEnd { present };
        let vf = |in_host| VfNetdev { in_host };
        // (what, path, host side, verdict)
        let cases = [
            ("no path recorded", Unrecorded, veth(false), Unjudged),
            ("visible path, veth", Present, veth(true), Alive),
            ("visible path wins over a missing host end", Present, veth(false), Alive),
            ("/proc path of another PID namespace, veth alive", Unseen, veth(true), Unknown),
            ("/proc path of another PID namespace, veth gone", Unseen, veth(false), Gone),
            ("bind mount unlinked, veth gone", Removed, veth(false), Gone),
            ("bind mount unlinked, namespace held open, veth alive", Removed, veth(true), Unknown),
            ("VF netdev back in the host", Unseen, vf(true), Gone),
            ("VF netdev still in the pod, path unseen", Unseen, vf(false), Unknown),
            ("VF netdev still in the pod, path unlinked", Removed, vf(false), Unknown),
            ("vlan: path unlinked from a visible directory", Removed, Nothing, Gone),
            ("vlan: path unseen", Unseen, Nothing, Unknown),
            ("vlan: path visible", Present, Nothing, Alive),
        ];
        for (what, path, host, want) in cases {
            assert_eq!(liveness(Evidence { path, host }), want, "{what}");
        }
    }
}
