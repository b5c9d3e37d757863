//! murmurationd's TOML configuration file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use murmurationd::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, Path::new("fuzz.toml")) {
        config.validate().expect("a parsed config is valid");
    }
});
