use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

fn err_text(text: &str) -> String {
    let e = parse(text).expect_err("must be refused");
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

#[test]
fn empty_file_gives_defaults() {
    let c = parse("").expect("defaults");
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9465");
    assert!(c.cleanup.enabled);
    assert_eq!(c.cleanup.grace_period_seconds.get(), Duration::from_secs(60));
    assert_eq!(c.cleanup.lock_timeout_seconds.get(), Duration::from_secs(2));
    assert_eq!(c.health.stuck_seconds.get(), Duration::from_secs(120));
    assert!(!c.ptp.enabled);
}

#[test]
fn full_file_parses() {
    let c = parse(
        r#"
        [log]
        level = "debug"
        [http]
        listen = "[::1]:9999"
        [state]
        data_dir = "/tmp/x"
        cni_path = ["/a", "/b"]
        [inventory]
        resync_seconds = 5
        debounce_seconds = 0.05
        [cleanup]
        enabled = false
        grace_period_seconds = 2.5
        lock_timeout_seconds = 0.5
        [health]
        stuck_seconds = 10
        [ptp]
        enabled = true
        ptp4l_socket = "/run/p"
        domain = 24
        offset_threshold_ns = 100
        holdover_seconds = 3
        locked_port_states = ["SLAVE", "uncalibrated"]
        "#,
    )
    .expect("valid");
    assert_eq!(c.http.listen.port(), 9999);
    assert_eq!(c.state.cni_path.len(), 2);
    assert_eq!(c.cleanup.grace_period_seconds.get(), Duration::from_millis(2500));
    assert_eq!(c.cleanup.lock_timeout_seconds.get(), Duration::from_millis(500));
    assert_eq!(c.health.stuck_seconds.get(), Duration::from_secs(10));
    assert_eq!(c.ptp.domain, 24);
    assert_eq!(c.ptp.locked_port_states.len(), 2);
}

#[test]
fn unknown_keys_are_refused_by_name() {
    assert!(err_text("[cleanup]\ngrace = 3").contains("grace"));
    assert!(err_text("colour = 1").contains("colour"));
    assert!(err_text("[ptp]\nenabled = true\nholdover = 3").contains("holdover"));
}

#[test]
fn bad_values_are_refused() {
    assert!(err_text("[cleanup]\ngrace_period_seconds = 0").contains("positive"));
    assert!(err_text("[cleanup]\ngrace_period_seconds = -1").contains("positive"));
    assert!(err_text("[cleanup]\nlock_timeout_seconds = 0").contains("positive"));
    assert!(err_text("[health]\nstuck_seconds = 0").contains("positive"));
    assert!(err_text("[http]\nlisten = \"nowhere\"").contains("listen"));
    assert!(err_text("[ptp]\ndomain = 300").contains("domain"));
    assert!(err_text("[ptp]\nlocked_port_states = [\"SLAVISH\"]").contains("SLAVISH"));
}

const PROBER: &str = r#"
[[responder]]
name = "echo"
netns = "/var/run/netns/a"
listen = "10.0.0.1:7007"

[[prober]]
name = "a-to-b"
netns = "/var/run/netns/b"
target = "10.0.0.1:7007"
interval_seconds = 0.1
timeout_seconds = 0.05
"#;

#[test]
fn probers_and_responders_parse_with_defaults() {
    let c = parse(PROBER).expect("valid");
    let p = &c.probers[0];
    assert_eq!(p.name.as_str(), "a-to-b");
    assert_eq!(p.netns.as_deref(), Some(Path::new("/var/run/netns/b")));
    assert_eq!(p.interval_seconds.get(), Duration::from_millis(100));
    assert_eq!(p.payload_bytes, 64);
    assert_eq!(p.source, None);
    assert_eq!(c.responders[0].listen.port(), 7007);
    let own = parse("[[prober]]\nname = \"x\"\ntarget = \"[::1]:7\"").expect("minimal");
    assert_eq!(own.probers[0].netns, None, "the daemon's own namespace by default");
    assert_eq!(own.probers[0].timeout_seconds.get(), Duration::from_millis(500));
}

#[test]
fn bad_probers_are_refused() {
    let p = |extra: &str| format!("[[prober]]\nname = \"p\"\ntarget = \"10.0.0.1:7\"\n{extra}");
    let cases = [
        (p("colour = 1"), "colour"),
        (p("interval_seconds = 0"), "positive"),
        (p("interval_seconds = 0.1\ntimeout_seconds = 0.2"), "exceeds"),
        (p("payload_bytes = 8"), "payload_bytes"),
        (p("source = \"[::]:0\""), "families"),
        (format!("{}\n{}", p(""), p("")), "used twice"),
        ("[[prober]]\nname = \"p\"\ntarget = \"0.0.0.0:7\"".to_owned(), "not a destination"),
        ("[[prober]]\nname = \"p\"\ntarget = \"10.0.0.1:0\"".to_owned(), "not a destination"),
        ("[[prober]]\nname = \"a b\"\ntarget = \"10.0.0.1:7\"".to_owned(), "A-Za-z0-9"),
        ("[[prober]]\nname = \"p\"".to_owned(), "target"),
        ("[[responder]]\nname = \"r\"\nlisten = \"10.0.0.1:0\"".to_owned(), "needs a port"),
        ("[[responder]]\nname = \"r\"\nlisten = \"10.0.0.1:7\"\nport = 1".to_owned(), "port"),
    ];
    for (text, want) in cases {
        let e = err_text(&text);
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn sriov_pf_and_drift_parse() {
    let c = parse(
        r#"
        [[sriov.pf]]
        name = "eth1"
        numvfs = 7
        drivers = [{ vfs = "0-3", driver = "igbvf" }, { vfs = "4-6", driver = "vfio-pci" }]
        mtu = 9000
        hw_timestamping = true
        vf_defaults = { spoofchk = false, trust = true, link_state = "auto" }
        [[sriov.pf]]
        address = "0000:03:00.1"
        numvfs = 2
        force = true
        [drift]
        interval_seconds = 5
        repair = true
        "#,
    )
    .expect("parses");
    let pf = &c.sriov.pf[0];
    assert_eq!(pf.numvfs, Some(7));
    assert_eq!(pf.driver_for(2), Some("igbvf"));
    assert_eq!(pf.driver_for(6), Some("vfio-pci"));
    assert_eq!(pf.driver_for(7), None);
    assert_eq!(pf.vf_defaults.spoofchk, Some(false));
    assert!(c.sriov.pf[1].force);
    assert_eq!(c.sriov.pf[1].label(), "0000:03:00.1");
    assert!(c.drift.repair);
    assert_eq!(c.drift.interval_seconds.get(), Duration::from_secs(5));
}

#[test]
fn bad_sriov_entries_are_refused_by_name() {
    for (text, needle) in [
        ("[[sriov.pf]]\nnumvfs = 1\n", "exactly one of name and address"),
        ("[[sriov.pf]]\nname = \"a\"\naddress = \"0000:01:00.0\"\n", "exactly one"),
        ("[[sriov.pf]]\naddress = \"01:00\"\n", "PCI address"),
        ("[[sriov.pf]]\nname = \"a\"\n[[sriov.pf]]\nname = \"a\"\n", "listed twice"),
        (
            "[[sriov.pf]]\nname = \"a\"\nnumvfs = 2\ndrivers = [{ vfs = \"1-2\", driver = \"x\" }]\n",
            "beyond numvfs",
        ),
        ("[[sriov.pf]]\nname = \"a\"\ndrivers = [{ vfs = \"3-1\", driver = \"x\" }]\n", "VF range"),
        ("[[sriov.pf]]\nname = \"a\"\nvf_defaults = { link_state = \"on\" }\n", "link_state"),
        ("[[sriov.pf]]\nname = \"a\"\nnumvf = 2\n", "numvf"),
        ("[drift]\ninterval_seconds = 0\n", "positive"),
    ] {
        let e = err_text(text);
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn ptp_instances_and_notifications_parse_and_validate() {
    let c = parse("[ptp]\nptp4l_socket = \"/run/a\"\ndomain = 3").expect("single form");
    let one = c.ptp.instances();
    assert_eq!((one.len(), one[0].name.as_str(), one[0].domain), (1, "ptp4l", 3));
    assert_eq!(c.ptp.locked_clock_classes, [6, 7, 135]);
    let c = parse(
        "[ptp]\n[[ptp.instance]]\nname = \"ptp0\"\nptp4l_socket = \"/run/p0\"\n\
         [[ptp.instance]]\nname = \"ptp1.d24\"\nptp4l_socket = \"/run/p1\"\ndomain = 24\n\
         [notifications]\nenabled = true\nlisten = \"0.0.0.0:9043\"\nnode_name = \"w1\"",
    )
    .expect("two instances");
    let names: Vec<_> = c.ptp.instances().into_iter().map(|i| (i.name, i.domain)).collect();
    assert_eq!(names, [("ptp0".to_owned(), 0), ("ptp1.d24".to_owned(), 24)]);
    assert_eq!(c.notifications.node_prefix(), "/cluster/node/w1");
    for (bad, what) in [
        ("[[ptp.instance]]\nname = \"a b\"\nptp4l_socket = \"/x\"", "name"),
        (
            "[[ptp.instance]]\nname = \"a\"\nptp4l_socket = \"/x\"\n[[ptp.instance]]\nname = \"a\"\nptp4l_socket = \"/y\"",
            "twice",
        ),
        ("[[ptp.instance]]\nname = \"a\"", "ptp4l_socket"),
        ("[notifications]\nnode_name = \"a/b\"", "node_name"),
        ("[notifications]\ncluster_prefix = \"cluster\"", "cluster_prefix"),
        ("[notifications]\ndelivery_attempts = 0", "delivery_attempts"),
        ("[notifications]\nmax_subscriptions = 0", "max_subscriptions"),
    ] {
        let text = if bad.starts_with("[[") { format!("[ptp]\n{bad}") } else { bad.to_owned() };
        assert!(err_text(&text).contains(what), "{what}: {}", err_text(&text));
    }
}
