//! PTP pieces the daemon (and any other murmuration tool) shares: the PTP
//! management protocol spoken over ptp4l's UNIX-domain socket ([`mgmt`]) and
//! the SO_TIMESTAMPING control-message decoder ([`cmsg`]) with the
//! `recvmsg(2)` that feeds it ([`sys`]).

pub mod cmsg;
pub mod mgmt;
pub mod sys;
