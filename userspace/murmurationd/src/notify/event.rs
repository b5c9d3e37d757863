//! Resources, their values and the CloudEvents 1.0 (structured JSON) events
//! the O-RAN O-Cloud Notification API v2 pushes and answers CurrentState
//! with. Pure: a [`Snapshot`] in, JSON out.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::sync_state::SyncState;

/// A resource of the API, named by its path under the node's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    SyncState,
    LockState,
    OsClockSyncState,
    ClockClass,
    GnssSyncStatus,
}

impl Resource {
    /// What this node serves (GNSS is known to the API, but absent here).
    pub const SERVED: [Resource; 4] =
        [Self::SyncState, Self::LockState, Self::OsClockSyncState, Self::ClockClass];
    pub const ALL: [Resource; 5] = [
        Self::SyncState,
        Self::LockState,
        Self::OsClockSyncState,
        Self::ClockClass,
        Self::GnssSyncStatus,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Self::SyncState => "/sync/sync-status/sync-state",
            Self::LockState => "/sync/ptp-status/lock-state",
            Self::OsClockSyncState => "/sync/sync-status/os-clock-sync-state",
            Self::ClockClass => "/sync/ptp-status/clock-class",
            Self::GnssSyncStatus => "/sync/gnss-status/gnss-sync-status",
        }
    }

    pub fn event_type(self) -> &'static str {
        match self {
            Self::SyncState => "event.sync.sync-status.synchronization-state-change",
            Self::LockState => "event.sync.ptp-status.ptp-state-change",
            Self::OsClockSyncState => "event.sync.sync-status.os-clock-sync-state-change",
            Self::ClockClass => "event.sync.ptp-status.ptp-clock-class-change",
            Self::GnssSyncStatus => "event.sync.gnss-status.gnss-state-change",
        }
    }

    pub fn from_path(p: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.path() == p)
    }

    pub fn served(self) -> bool {
        Self::SERVED.contains(&self)
    }
}

/// Everything the API reports, as of one PTP poll.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// ptp4l's derived state (lock-state).
    pub lock: Option<SyncState>,
    /// ptp4l's offset from its master (ns).
    pub offset_ns: Option<f64>,
    /// The grandmaster's clock class (248 when ptp4l does not answer).
    pub clock_class: Option<u8>,
    /// The system clock against the PHC.
    pub os_clock: Option<SyncState>,
    /// The system clock's measured offset from where it should be (ns).
    pub os_offset_ns: Option<f64>,
}

impl Snapshot {
    /// The node's overall state: the least synchronized of its parts.
    pub fn sync(&self) -> Option<SyncState> {
        match (self.lock, self.os_clock) {
            (Some(a), Some(b)) => Some(a.worst(b)),
            (a, b) => a.or(b),
        }
    }

    /// The resources whose reported value differs between `self` and `next`
    /// (offsets alone are no change).
    pub fn changed(&self, next: &Snapshot) -> Vec<Resource> {
        let mut out = Vec::new();
        if self.sync() != next.sync() {
            out.push(Resource::SyncState);
        }
        if self.lock != next.lock {
            out.push(Resource::LockState);
        }
        if self.os_clock != next.os_clock {
            out.push(Resource::OsClockSyncState);
        }
        if self.clock_class != next.clock_class {
            out.push(Resource::ClockClass);
        }
        out
    }

    /// The `data.values` of `r`'s event, or `None` when there is nothing
    /// to report (the resource is absent or not known yet).
    pub fn values(&self, r: Resource, address: &str) -> Option<Vec<Value>> {
        let state = |s: SyncState| {
            json!({"ResourceAddress": address, "data_type": "notification",
                   "value_type": "enumeration", "value": s.as_str()})
        };
        let metric = |v: f64| {
            json!({"ResourceAddress": address, "data_type": "metric",
                   "value_type": "decimal64.3", "value": (v * 1000.0).round() / 1000.0})
        };
        let with_offset = |s: SyncState, o: Option<f64>| {
            let mut v = vec![state(s)];
            v.extend(o.map(metric));
            v
        };
        match r {
            Resource::SyncState => self.sync().map(|s| vec![state(s)]),
            Resource::LockState => self.lock.map(|s| with_offset(s, self.offset_ns)),
            Resource::OsClockSyncState => self.os_clock.map(|s| with_offset(s, self.os_offset_ns)),
            Resource::ClockClass => self.clock_class.map(|c| vec![metric(f64::from(c))]),
            Resource::GnssSyncStatus => None,
        }
    }
}

/// A fresh random (version 4) UUID.
pub fn uuid_v4() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if read.is_err() {
        // No urandom: time and a counter still keep ids unique in this process.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        b[..8].copy_from_slice(&(t.as_nanos() as u64).to_be_bytes());
        b[8..].copy_from_slice(&n.to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// RFC 3339 UTC with nanoseconds, e.g. `2026-01-01T00:00:00.123456789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `r`'s event for a resource at `address`, or `None` when `r` has no value.
pub fn cloud_event(r: Resource, address: &str, s: &Snapshot, time: SystemTime) -> Option<Value> {
    let values = s.values(r, address)?;
    Some(json!({
        "specversion": "1.0",
        "id": uuid_v4(),
        "source": r.path(),
        "type": r.event_type(),
        "time": rfc3339(time),
        "data": {"version": "1.0", "values": values},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync_state::SyncState::{Freerun, Holdover, Locked};
    use std::time::Duration;

    const ADDR: &str = "/cluster/node/n1";

    fn locked() -> Snapshot {
        Snapshot {
            lock: Some(Locked),
            offset_ns: Some(12.34567),
            clock_class: Some(6),
            os_clock: Some(Locked),
            os_offset_ns: Some(-3.0),
        }
    }

    #[test]
    fn every_resource_has_its_standard_path_and_type() {
        let table = [
            (Resource::SyncState, "sync-status/sync-state", "sync-status.synchronization-state"),
            (Resource::LockState, "ptp-status/lock-state", "ptp-status.ptp-state"),
            (
                Resource::OsClockSyncState,
                "sync-status/os-clock-sync-state",
                "sync-status.os-clock-sync-state",
            ),
            (Resource::ClockClass, "ptp-status/clock-class", "ptp-status.ptp-clock-class"),
            (Resource::GnssSyncStatus, "gnss-status/gnss-sync-status", "gnss-status.gnss-state"),
        ];
        for (r, path, ty) in table {
            assert_eq!(r.path(), format!("/sync/{path}"));
            assert_eq!(r.event_type(), format!("event.sync.{ty}-change"));
            assert_eq!(Resource::from_path(r.path()), Some(r));
        }
        assert_eq!(Resource::from_path("/sync/ptp-status"), None);
        assert!(!Resource::GnssSyncStatus.served());
    }

    #[test]
    fn cloud_event_envelope_and_value_shapes() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_767_225_600, 123_456_789);
        let address = format!("{ADDR}{}", Resource::LockState.path());
        let e = cloud_event(Resource::LockState, &address, &locked(), t).expect("an event");
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["source"], "/sync/ptp-status/lock-state");
        assert_eq!(e["type"], "event.sync.ptp-status.ptp-state-change");
        assert_eq!(e["time"], "2026-01-01T00:00:00.123456789Z");
        let id = e["id"].as_str().expect("id");
        assert_eq!((id.len(), &id[14..15]), (36, "4"), "a v4 UUID: {id}");
        assert_eq!(e["data"]["version"], "1.0");
        let v = &e["data"]["values"];
        assert_eq!(v[0]["ResourceAddress"], address.as_str());
        assert_eq!(v[0]["data_type"], "notification");
        assert_eq!(v[0]["value_type"], "enumeration");
        assert_eq!(v[0]["value"], "LOCKED");
        assert_eq!(v[1]["data_type"], "metric");
        assert_eq!(v[1]["value_type"], "decimal64.3");
        assert_eq!(v[1]["value"], 12.346);
        assert_eq!(v.as_array().map(Vec::len), Some(2));

        let c = cloud_event(Resource::ClockClass, ADDR, &locked(), t).expect("class");
        assert_eq!(
            c["data"]["values"],
            json!([{"ResourceAddress": ADDR, "data_type": "metric",
            "value_type": "decimal64.3", "value": 6.0}])
        );
        let s = cloud_event(Resource::SyncState, ADDR, &locked(), t).expect("sync");
        assert_eq!(s["data"]["values"].as_array().map(Vec::len), Some(1), "state only: {s}");
        assert_eq!(cloud_event(Resource::GnssSyncStatus, ADDR, &locked(), t), None);
        assert_ne!(uuid_v4(), uuid_v4());
    }

    #[test]
    fn sync_state_is_the_worst_part_and_changes_list_what_moved() {
        let mut s = locked();
        assert_eq!(s.sync(), Some(Locked));
        s.os_clock = Some(Freerun);
        assert_eq!(s.sync(), Some(Freerun));
        let mut next = locked();
        next.lock = Some(Holdover);
        next.offset_ns = Some(999.0);
        assert_eq!(
            locked().changed(&next),
            vec![Resource::SyncState, Resource::LockState],
            "an offset alone is no change"
        );
        let mut class = locked();
        class.clock_class = Some(248);
        assert_eq!(locked().changed(&class), vec![Resource::ClockClass]);
        assert_eq!(locked().changed(&locked()), Vec::<Resource>::new());
        let only_ptp = Snapshot { lock: Some(Holdover), ..Snapshot::default() };
        assert_eq!(only_ptp.sync(), Some(Holdover));
    }

    #[test]
    fn rfc3339_dates() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00.000000000Z"),
            (951_782_400, "2000-02-29T00:00:00.000000000Z"),
            (4_107_542_399, "2100-02-28T23:59:59.000000000Z"),
        ] {
            assert_eq!(rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)), want);
        }
    }
}
