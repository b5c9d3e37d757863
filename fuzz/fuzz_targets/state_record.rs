//! The per-attachment state record as DEL, CHECK, GC and the daemon read it
//! from `dataDir` (a damaged or hand-edited file is hostile input too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use murmuration_core::state::Record;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<Record>(data) else {
        return;
    };
    let _ = record.id();
    let _ = record.from_earlier_boot();
    // What is saved loads again unchanged.
    let saved = serde_json::to_vec_pretty(&record).expect("a loaded record saves");
    let loaded: Record = serde_json::from_slice(&saved).expect("a saved record loads");
    let again = serde_json::to_vec_pretty(&loaded).expect("saves");
    assert_eq!(saved, again, "save/load is stable");
});
