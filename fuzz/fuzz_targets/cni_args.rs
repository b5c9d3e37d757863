//! `CNI_ARGS` (`K=V;K=V`): the strict parse of ADD/CHECK and DEL's lenient one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murmuration_core::cni::args::CniArgs;

fuzz_target!(|data: &[u8]| {
    // The plugin refuses a non-UTF-8 environment before parsing it.
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let lenient = CniArgs::parse_lenient(raw);
    match CniArgs::parse(raw) {
        Ok(strict) => {
            // What the strict parse accepts, the lenient one reads the same.
            assert_eq!(lenient.pod_namespace, strict.pod_namespace);
            assert_eq!(lenient.pod_name, strict.pod_name);
            assert_eq!(lenient.pod_uid, strict.pod_uid);
            assert_eq!(lenient.infra_container_id, strict.infra_container_id);
            assert_eq!(lenient.mac, strict.mac);
            assert_eq!(lenient.ips, strict.ips);
        }
        Err(e) => assert_eq!(e.code, 4, "CNI_ARGS errors are code 4: {e:?}"),
    }
    // The lenient parse keeps only what parses strictly.
    let again: Vec<String> = lenient.all.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(mac) = lenient.mac {
        assert!(lenient.all.contains_key("MAC"), "{mac}");
    }
    assert!(again.iter().all(|kv| !kv.starts_with('=')));
});
