//! ptp4l's management responses on its UNIX socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murmuration_core::ptp::mgmt::decode;

fuzz_target!(|data: &[u8]| {
    if let Ok((seq, _response)) = decode(data) {
        assert_eq!(seq.to_be_bytes(), data[30..32], "the sequence id is the header's");
    }
});
