//! PHC monitoring on a host without PTP hardware clocks: nothing is
//! discovered, a veth reports software timestamping only and PHC -1, and a
//! `required` hardware-timestamping policy fails visibly (metric 0, task error).

use serde_json::Value;

use crate::common::World;

const ADDR: &str = "127.0.0.1:9467";

fn sample<'a>(body: &'a str, series: &str) -> Option<&'a str> {
    body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
}

#[test]
#[ignore = "privileged: needs root and network namespaces (cargo xtask test)"]
fn no_phc_found_and_required_hw_timestamping_is_reported_unavailable() {
    let w = World::new();
    w.node.ip(&["link", "add", "ts0", "type", "veth", "peer", "name", "ts1"]);
    let extra = "[phc]\nenabled = true\ninterfaces = [\"ts0\"]\nhw_timestamping = \"required\"\n\
                 poll_seconds = 0.2\n";
    let _daemon = w.daemon(9467, extra);
    std::thread::sleep(std::time::Duration::from_millis(600));
    let (status, body) = w.get(ADDR, "/metrics");
    assert_eq!(status, 200);
    let want = [
        ("murmuration_phc_clocks", "0"),
        ("murmuration_interface_phc_index{ifname=\"ts0\"}", "-1"),
        ("murmuration_interface_hw_timestamping{ifname=\"ts0\"}", "0"),
        (
            "murmuration_interface_timestamping_capability{ifname=\"ts0\",capability=\"software_tx\"}",
            "1",
        ),
        (
            "murmuration_interface_timestamping_capability{ifname=\"ts0\",capability=\"hardware_tx\"}",
            "0",
        ),
    ];
    for (series, value) in want {
        assert_eq!(sample(&body, series), Some(value), "{series} in\n{body}");
    }
    let errors = sample(&body, "murmurationd_task_errors_total{task=\"phc\"}");
    assert!(errors.is_some_and(|v| v != "0"), "required policy failure counted:\n{body}");
    assert!(!body.contains("murmuration_phc_offset_seconds{"), "no offset without a PHC");
    let status: Value = serde_json::from_str(&w.get(ADDR, "/status").1).expect("status JSON");
    assert!(status.is_object());
    assert!(w.daemon_log().contains("no PTP hardware clock found"), "{}", w.daemon_log());
    crate::prometheus::promtool_check(&body);
}
