//! PTP pieces the daemon (and any other murmuration tool) shares: the PTP
//! management protocol spoken over ptp4l's UNIX-domain socket ([`mgmt`]).

pub mod mgmt;
