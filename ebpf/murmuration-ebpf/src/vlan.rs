//! VLAN tag state tracking and flooding to a VLAN's members.

use aya_ebpf::programs::TcContext;
use murmuration_common::{
    VlanMembers, ATTACH_F_PTP_TO_HOST, ATTACH_F_TRUNK, DIR_TO_POD, DROP_HELPER_FAILED,
    MAX_VLAN_MEMBERS, VLAN_VID_MASK,
};

use crate::{maps::VLAN_MEMBERS, skb, stats};

/// The tag a frame belongs to and whether it currently carries it.
pub struct TagState {
    /// TPID (host order) and TCI to push when the tag is wanted.
    pub proto: u16,
    pub tci: u16,
    /// The skb currently carries the tag.
    pub tagged: bool,
}

impl TagState {
    #[inline(always)]
    fn vid(&self) -> u16 {
        self.tci & VLAN_VID_MASK
    }

    /// Brings the skb into the wanted tag state. VLAN 0 (the untagged
    /// network) is never pushed. Invalidates packet pointers.
    #[inline(always)]
    pub fn ensure(&mut self, ctx: &TcContext, want_tagged: bool) -> Result<(), i64> {
        if self.tagged == want_tagged || (want_tagged && self.vid() == 0) {
            return Ok(());
        }
        if want_tagged {
            skb::vlan_push(ctx, self.proto, self.tci)?;
        } else {
            skb::vlan_pop(ctx)?;
        }
        self.tagged = want_tagged;
        Ok(())
    }
}

/// Whether a member wants frames tagged.
#[inline(always)]
fn member_is_trunk(flags: u32) -> bool {
    flags & ATTACH_F_TRUNK != 0
}

/// Sends a copy to every member of the VLAN `key` (`murmuration_common::vlan_key`) except `exclude_ifindex` (0: the
/// frame came from the uplink; PTP then skips `ptpToHost` members), with
/// the tag kept for trunk members and removed for access members. Members
/// matching the current tag state go first so that at most one tag change
/// is needed. Leaves the skb in whatever tag state it ended in: callers
/// call `TagState::ensure` afterwards.
#[inline(always)]
pub fn flood(ctx: &TcContext, key: u32, exclude_ifindex: u32, tag: &mut TagState, ptp: bool) {
    let Some(m) = VLAN_MEMBERS.get_ptr(key) else {
        return;
    };
    let first = tag.tagged;
    flood_pass(ctx, m, exclude_ifindex, first, ptp);
    if tag.ensure(ctx, !first).is_err() {
        stats::count_drop(0, DIR_TO_POD, DROP_HELPER_FAILED);
        return;
    }
    flood_pass(ctx, m, exclude_ifindex, !first, ptp);
}

/// One pass over the member list, cloning to members whose trunk-ness is
/// `trunk`.
#[inline(always)]
fn flood_pass(
    ctx: &TcContext,
    m: *const VlanMembers,
    exclude_ifindex: u32,
    trunk: bool,
    ptp: bool,
) {
    // SAFETY: `m` is a live map value pointer from a successful lookup.
    let count = unsafe { (*m).count } as usize;
    let mut i = 0usize;
    while i < MAX_VLAN_MEMBERS {
        if i >= count {
            break;
        }
        // SAFETY: `i < MAX_VLAN_MEMBERS`, the array length; copying the
        // 16-byte member out of the map value.
        let member = unsafe { (*m).members[i] };
        // From the uplink, a ptpToHost member's PTP goes to the node only
        // (the original continues to the stack after the flood).
        let skip_ptp = ptp && exclude_ifindex == 0 && member.flags & ATTACH_F_PTP_TO_HOST != 0;
        if member_is_trunk(member.flags) == trunk
            && member.host_ifindex != exclude_ifindex
            && !skip_ptp
        {
            clone_to_member(ctx, member.host_ifindex, member.attach_id, ptp);
        }
        i += 1;
    }
}

#[inline(always)]
fn clone_to_member(ctx: &TcContext, ifindex: u32, attach_id: u32, ptp: bool) {
    // Egress of the host-side veth = ingress of the pod side.
    match skb::clone_to_egress(ctx, ifindex) {
        Ok(()) => stats::count_fwd(attach_id, DIR_TO_POD, ctx.len(), ptp, true),
        Err(_) => stats::count_drop(attach_id, DIR_TO_POD, DROP_HELPER_FAILED),
    }
}
