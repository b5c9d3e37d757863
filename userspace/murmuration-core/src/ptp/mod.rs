//! PTP pieces the daemon (and any other murmuration tool) shares: the PTP
//! management protocol spoken over ptp4l's UNIX-domain socket ([`mgmt`]) and
//! the SO_TIMESTAMPING control-message decoder ([`cmsg`]) with the
//! `recvmsg(2)` that feeds it ([`sys`]), and the node's sync-state file
//! the daemon writes and the plugin's `requirePtpLock` reads ([`lockstate`]).

pub mod cmsg;
pub mod lockstate;
pub mod mgmt;
pub mod sys;
