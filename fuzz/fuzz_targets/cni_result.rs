//! CNI results of any version (`prevResult`, an IPAM plugin's reply),
//! converted to every supported version.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murmuration_core::cni::result::CniResult;
use murmuration_core::cni::version::CniVersion;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let result = match CniResult::from_value(&value) {
        Ok(r) => r,
        Err(e) => {
            assert_eq!(e.code, 6, "{e:?}");
            return;
        }
    };
    for version in CniVersion::ALL {
        let rendered = result.to_value(version);
        assert_eq!(rendered["cniVersion"], version.as_str());
        let text = serde_json::to_string(&rendered).expect("renders");
        let reparsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        // Every rendering decodes again; 1.1.0 loses nothing.
        let back = CniResult::from_value(&reparsed).expect("a rendered result decodes");
        if version == CniVersion::LATEST {
            assert_eq!(back, result, "a 1.1.0 result round-trips");
        }
        assert_eq!(back.ips.len(), result.ips.len());
        assert_eq!(back.interfaces.len(), result.interfaces.len());
    }
    // ADD appends its own result to the runtime's prevResult.
    let mut merged = result.clone();
    merged.append(result.clone());
    assert_eq!(merged.ips.len(), 2 * result.ips.len());
});
