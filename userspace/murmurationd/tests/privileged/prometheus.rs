//! A real Prometheus scrapes the daemon; the test reads the attachment
//! counters back through Prometheus's HTTP API while it sends traffic, and
//! `promtool check metrics` must be clean on the exposition.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use murmuration_testkit::http::http_get_accept;
use serde_json::Value;

use crate::common::{Netns, Proc, World, sh, spawn_in, wait_for};

pub const DAEMON_ADDR: &str = "127.0.0.1:9466";
/// The node namespace is fresh, so this port is free by construction.
const PROM_ADDR: &str = "127.0.0.1:9090";

pub fn start_prometheus(w: &World) -> Proc {
    let dir = w.tmp.path().join("prometheus");
    std::fs::create_dir_all(&dir).expect("prometheus dir");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: murmurationd\n    static_configs:\n      - targets: ['{DAEMON_ADDR}']\n"
        ),
    )
    .expect("prometheus config");
    let args = [
        format!("--config.file={}", cfg.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address={PROM_ADDR}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = spawn_in(&w.node, "prometheus", "prometheus", &args, &dir.join("log"));
    wait_for("Prometheus to be ready", Duration::from_secs(30), || {
        assert!(p.alive(), "prometheus exited");
        w.node.run(|| crate::common::http_get(PROM_ADDR, "/-/ready")).ok().filter(|r| r.0 == 200)
    });
    p
}

/// The single value of an instant query, if there is exactly one series.
pub fn query(w: &World, q: &str) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", q.replace('"', "%22").replace(' ', "%20"));
    let (status, body) = w.get(PROM_ADDR, &path);
    assert_eq!(status, 200, "query {q}: {body}");
    let v: Value = serde_json::from_str(&body).expect("API JSON");
    let result = v["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's prometheus (cargo xtask test)"]
fn prometheus_scrapes_attachment_counters_that_follow_traffic() {
    let w = World::new();
    let pod = Netns::with_lo_up("pod");
    let r = w.add(&pod, "ctr-prom", &w.conf("10.92.0.0/24"), "prom-pod");
    let pod_ip = r["ips"][0]["address"].as_str().expect("pod address").to_owned();
    let _daemon = w.daemon(9466, "");
    let status: Value = serde_json::from_str(&w.get(DAEMON_ADDR, "/status").1).expect("status");
    let host_end = status["inventory"]["attachments"][0]["host_ifname"]
        .as_str()
        .expect("host_ifname")
        .to_owned();
    // An address on the host end, so the pod has a peer inside our namespaces.
    w.node.ip(&["addr", "add", "10.92.0.254/24", "dev", &host_end]);
    let _prom = start_prometheus(&w);

    let series = "murmuration_attachment_rx_packets_total{pod_name=\"prom-pod\"}";
    let before = wait_for("a first scrape with the attachment", Duration::from_secs(30), || {
        query(&w, series)
    });
    let ping = sh(
        "ip",
        &["netns", "exec", pod.name(), "ping", "-c", "30", "-i", "0.01", "-q", "10.92.0.254"],
    );
    assert!(ping.contains("30 received"), "{ping} (pod {pod_ip})");
    let after = wait_for("the counter to follow the traffic", Duration::from_secs(30), || {
        query(&w, series).filter(|v| *v >= before + 30.0)
    });
    assert!(after >= before + 30.0);
    let tx = query(&w, "murmuration_attachment_tx_packets_total{pod_name=\"prom-pod\"}");
    assert!(tx.is_some_and(|v| v >= 30.0), "replies counted: {tx:?}");
    let adds = wait_for("ADD counted via the operation log", Duration::from_secs(30), || {
        query(&w, "murmuration_cni_operations_total{verb=\"ADD\",code=\"0\"}")
    });
    assert!(adds >= 1.0);
    assert_eq!(query(&w, "up{job=\"murmurationd\"}"), Some(1.0));

    promtool_check(&w.get(DAEMON_ADDR, "/metrics").1);
}

#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's prometheus (cargo xtask test)"]
fn hostile_names_stay_inside_their_labels_in_both_formats() {
    let w = World::new();
    let pod = Netns::with_lo_up("pod");
    let (ifname, pod_name) = ("x\"}1", "p\\q\"{");
    w.add_as(&pod.path(), "ctr-hostile", &w.conf("10.93.0.0/24"), pod_name, ifname);
    let _daemon = w.daemon(9467, "");
    let series = "murmuration_attachment_rx_packets_total{network=";
    let text = wait_for("the attachment in /metrics", Duration::from_secs(30), || {
        let body = w.get("127.0.0.1:9467", "/metrics").1;
        body.contains(series).then_some(body)
    });
    let line = text.lines().find(|l| l.starts_with(series)).expect("series");
    assert!(line.contains(r#"ifname="x\"}1""#), "ifname escaped: {line}");
    assert!(line.contains(r#"pod_name="p\\q\"{""#), "pod_name escaped: {line}");
    promtool_check(&text);
    let om = w
        .node
        .run(|| http_get_accept("127.0.0.1:9467", "/metrics", "application/openmetrics-text"))
        .expect("GET /metrics")
        .1;
    assert!(om.contains(r#"ifname="x\"}1""#) && om.trim_end().ends_with("# EOF"), "{om}");
}

/// `promtool check metrics` on the exposition the daemon serves to plain
/// clients: no error, no warning.
pub fn promtool_check(body: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    promtool.stdin.take().expect("stdin").write_all(body.as_bytes()).expect("write");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
