//! SO_TIMESTAMPING control messages as `recvmsg(2)` writes them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murmuration_core::ptp::cmsg;

fuzz_target!(|data: &[u8]| {
    let control = cmsg::parse(data);
    // A buffer extended by bytes that are no message decodes the same.
    let mut longer = data.to_vec();
    longer.extend_from_slice(&[0; 7]);
    let _ = cmsg::parse(&longer);
    // Stamps merge without losing what the first one had.
    let merged = control.stamps.merge(control.stamps);
    assert_eq!(merged, control.stamps);
});
