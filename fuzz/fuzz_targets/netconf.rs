//! The network configuration on stdin, with what a runtime injects from a
//! conflist (`runtimeConfig`, `capabilities`, `prevResult`,
//! `cni.dev/valid-attachments`): every verb's parse and DEL's tolerant one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murmuration_core::cni::args::CniArgs;
use murmuration_core::cni::config::NetConf;
use murmuration_core::cni::version::CniVersion;

fuzz_target!(|data: &[u8]| {
    let parsed = NetConf::parse(data);
    let del = NetConf::parse_for_del(data);
    match parsed {
        Ok(conf) => {
            let _ = conf.validate_for_add();
            let _ = conf.effective_mac(&CniArgs::default());
            let (for_del, set_aside) = del.expect("DEL parses what every verb parses");
            assert!(set_aside.is_none(), "nothing set aside from a valid config");
            assert_eq!(for_del.name, conf.name);
            assert_eq!(for_del.raw, data, "delegates get the exact bytes");
            if let Some(prev) = &conf.prev_result {
                for version in CniVersion::ALL {
                    let rendered = serde_json::to_string(&prev.to_value(version)).expect("renders");
                    assert!(serde_json::from_str::<serde_json::Value>(&rendered).is_ok());
                }
            }
        }
        Err(e) => {
            // 1: unsupported version, 6: undecodable, 7: invalid value.
            assert!(matches!(e.code, 1 | 6 | 7), "unexpected code {}: {e:?}", e.code);
            serde_json::to_string(&e).expect("the error renders as JSON");
            match del {
                // DEL sets aside invalid values (7) only.
                Ok((_, set_aside)) => assert_eq!((e.code, set_aside.map(|s| s.code)), (7, Some(7))),
                Err(d) if e.code != 7 => assert_eq!(d.code, e.code),
                Err(d) => assert_eq!(d, e, "DEL refuses with the first error"),
            }
        }
    }
});
