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
    assert!(err_text("[http]\nlisten = \"nowhere\"").contains("listen"));
    assert!(err_text("[ptp]\ndomain = 300").contains("domain"));
    assert!(err_text("[ptp]\nlocked_port_states = [\"SLAVISH\"]").contains("SLAVISH"));
}
