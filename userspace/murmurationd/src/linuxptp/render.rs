//! The config files and command lines of ptp4l, phc2sys and ts2phc for one
//! `[[linuxptp.instance]]`. Pure: config in, text and arguments out.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::config::linuxptp::{
    DelayMechanism, InstanceConfig, LinuxPtpConfig, Polarity, Role, Timestamping, Transport,
    Ts2phcSource,
};

/// One of the programs the daemon supervises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Ptp4l,
    Phc2sys,
    Ts2phc,
}

impl Program {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ptp4l => "ptp4l",
            Self::Phc2sys => "phc2sys",
            Self::Ts2phc => "ts2phc",
        }
    }
}

/// What to write and what to run for one program of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub program: Program,
    pub config_path: PathBuf,
    pub config: String,
    pub binary: PathBuf,
    pub args: Vec<String>,
}

/// Every program the instance runs: ptp4l, then phc2sys and ts2phc when configured.
pub fn instance(lp: &LinuxPtpConfig, i: &InstanceConfig) -> Vec<Rendered> {
    let mut out = vec![ptp4l(lp, i)];
    if i.phc2sys.is_some() {
        out.push(phc2sys(lp, i));
    }
    if i.ts2phc.is_some() {
        out.push(ts2phc(lp, i));
    }
    out
}

fn header(i: &InstanceConfig, p: Program) -> String {
    format!(
        "# {} of instance {}, written by murmurationd at every start; edits are lost\n\
         [global]\nuse_syslog 0\nverbose 1\n",
        p.as_str(),
        i.name
    )
}

fn config_path(lp: &LinuxPtpConfig, i: &InstanceConfig, p: Program) -> PathBuf {
    lp.run_dir.join(format!("{}.{}.conf", i.name, p.as_str()))
}

fn line(s: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(s, "{key} {value}");
}

fn opt(s: &mut String, key: &str, value: Option<impl std::fmt::Display>) {
    if let Some(v) = value {
        line(s, key, v);
    }
}

fn args(cfg: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec!["-f".to_owned(), cfg.display().to_string()];
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a
}

pub fn ptp4l(lp: &LinuxPtpConfig, i: &InstanceConfig) -> Rendered {
    let mut s = header(i, Program::Ptp4l);
    line(&mut s, "domainNumber", i.domain);
    let transport = match i.transport {
        Transport::UdpV4 => "UDPv4",
        Transport::UdpV6 => "UDPv6",
        Transport::L2 => "L2",
    };
    line(&mut s, "network_transport", transport);
    let delay = match i.delay_mechanism {
        DelayMechanism::E2E => "E2E",
        DelayMechanism::P2P => "P2P",
    };
    line(&mut s, "delay_mechanism", delay);
    let ts = match i.timestamping {
        Timestamping::Hardware => "hardware",
        Timestamping::Software => "software",
    };
    line(&mut s, "time_stamping", ts);
    let sock = lp.socket(i);
    line(&mut s, "uds_address", sock.display());
    match i.role {
        Role::Client => line(&mut s, "slaveOnly", 1),
        Role::Master => line(&mut s, "masterOnly", 1),
        Role::FreeRunning => {
            line(&mut s, "slaveOnly", 1);
            line(&mut s, "free_running", 1);
        }
    }
    opt(&mut s, "priority1", i.priority1);
    opt(&mut s, "priority2", i.priority2);
    opt(&mut s, "logAnnounceInterval", i.log_announce_interval);
    opt(&mut s, "logSyncInterval", i.log_sync_interval);
    opt(&mut s, "logMinDelayReqInterval", i.log_min_delay_req_interval);
    opt(&mut s, "announceReceiptTimeout", i.announce_receipt_timeout);
    opt(&mut s, "pi_proportional_const", i.pi_proportional_const);
    opt(&mut s, "pi_integral_const", i.pi_integral_const);
    let _ = writeln!(s, "[{}]", i.interface);
    let path = config_path(lp, i, Program::Ptp4l);
    Rendered {
        program: Program::Ptp4l,
        args: args(&path, &[]),
        config_path: path,
        config: s,
        binary: lp.ptp4l.clone(),
    }
}

pub fn phc2sys(lp: &LinuxPtpConfig, i: &InstanceConfig) -> Rendered {
    let mut s = header(i, Program::Phc2sys);
    line(&mut s, "domainNumber", i.domain);
    line(&mut s, "uds_address", lp.socket(i).display());
    let p = i.phc2sys.as_ref();
    opt(&mut s, "step_threshold", p.and_then(|p| p.step_threshold));
    opt(&mut s, "first_step_threshold", p.and_then(|p| p.first_step_threshold));
    let path = config_path(lp, i, Program::Phc2sys);
    let extra: &[&str] = if p.is_none_or(|p| p.realtime) { &["-a", "-r"] } else { &["-a"] };
    Rendered {
        program: Program::Phc2sys,
        args: args(&path, extra),
        config_path: path,
        config: s,
        binary: lp.phc2sys.clone(),
    }
}

pub fn ts2phc(lp: &LinuxPtpConfig, i: &InstanceConfig) -> Rendered {
    let mut s = header(i, Program::Ts2phc);
    let t = i.ts2phc.clone();
    opt(&mut s, "ts2phc.pulsewidth", t.as_ref().and_then(|t| t.pulsewidth_ns));
    opt(
        &mut s,
        "ts2phc.nmea_serialport",
        t.as_ref().and_then(|t| t.nmea_serialport.as_ref()).map(|p| p.display().to_string()),
    );
    let _ = writeln!(s, "[{}]", i.interface);
    let polarity = match t.as_ref().map(|t| t.extts_polarity).unwrap_or_default() {
        Polarity::Rising => "rising",
        Polarity::Falling => "falling",
        Polarity::Both => "both",
    };
    line(&mut s, "ts2phc.extts_polarity", polarity);
    let source = match t.map(|t| t.source).unwrap_or_default() {
        Ts2phcSource::Generic => "generic",
        Ts2phcSource::Nmea => "nmea",
    };
    let path = config_path(lp, i, Program::Ts2phc);
    Rendered {
        program: Program::Ts2phc,
        args: args(&path, &["-s", source]),
        config_path: path,
        config: s,
        binary: lp.ts2phc.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(instance: &str) -> Config {
        let text = format!("[linuxptp]\nrun_dir = \"/run/t\"\n[[linuxptp.instance]]\n{instance}");
        Config::parse(&text, Path::new("t.toml")).expect("valid")
    }

    fn lines(s: &str) -> Vec<&str> {
        s.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn a_hardware_client_with_defaults() {
        let c = config("name = \"a\"\ninterface = \"eth1\"\n");
        let r = instance(&c.linuxptp, &c.linuxptp.instances[0]);
        assert_eq!(r.len(), 1);
        assert_eq!(
            lines(&r[0].config),
            [
                "[global]",
                "use_syslog 0",
                "verbose 1",
                "domainNumber 0",
                "network_transport UDPv4",
                "delay_mechanism E2E",
                "time_stamping hardware",
                "uds_address /run/t/a.sock",
                "slaveOnly 1",
                "[eth1]",
            ]
        );
        assert_eq!(r[0].config_path, PathBuf::from("/run/t/a.ptp4l.conf"));
        assert_eq!(r[0].args, ["-f", "/run/t/a.ptp4l.conf"]);
        assert_eq!(r[0].binary, PathBuf::from("ptp4l"));
    }

    #[test]
    fn a_software_master_with_options() {
        let c = config(
            "name = \"gm\"\ninterface = \"v0\"\ndomain = 24\nrole = \"master\"\n\
             timestamping = \"software\"\ntransport = \"l2\"\ndelay_mechanism = \"P2P\"\n\
             priority1 = 10\nlog_sync_interval = -3\nannounce_receipt_timeout = 3\n\
             pi_integral_const = 0.008\n",
        );
        let text = ptp4l(&c.linuxptp, &c.linuxptp.instances[0]).config;
        for want in [
            "domainNumber 24",
            "network_transport L2",
            "delay_mechanism P2P",
            "time_stamping software",
            "masterOnly 1",
            "priority1 10",
            "logSyncInterval -3",
            "announceReceiptTimeout 3",
            "pi_integral_const 0.008",
        ] {
            assert!(lines(&text).contains(&want), "{want} missing:\n{text}");
        }
        assert!(!text.contains("slaveOnly"), "{text}");
        assert!(!text.contains("priority2"), "{text}");
    }

    #[test]
    fn free_running_never_adjusts() {
        let c = config("name = \"m\"\ninterface = \"v0\"\nrole = \"free-running\"\n");
        let text = ptp4l(&c.linuxptp, &c.linuxptp.instances[0]).config;
        assert!(text.contains("slaveOnly 1\nfree_running 1\n"), "{text}");
    }

    #[test]
    fn phc2sys_and_ts2phc_follow_the_instance() {
        let c = config(
            "name = \"a\"\ninterface = \"eth1\"\ndomain = 3\n[linuxptp.instance.phc2sys]\n\
             step_threshold = 0.5\n[linuxptp.instance.ts2phc]\nsource = \"nmea\"\n\
             nmea_serialport = \"/dev/ttyS1\"\npulsewidth_ns = 100000000\n",
        );
        let r = instance(&c.linuxptp, &c.linuxptp.instances[0]);
        let names: Vec<_> = r.iter().map(|r| r.program).collect();
        assert_eq!(names, [Program::Ptp4l, Program::Phc2sys, Program::Ts2phc]);
        assert_eq!(r[1].args, ["-f", "/run/t/a.phc2sys.conf", "-a", "-r"]);
        for want in ["domainNumber 3", "uds_address /run/t/a.sock", "step_threshold 0.5"] {
            assert!(lines(&r[1].config).contains(&want), "{want}:\n{}", r[1].config);
        }
        assert_eq!(r[2].args, ["-f", "/run/t/a.ts2phc.conf", "-s", "nmea"]);
        assert!(r[2].config.contains("ts2phc.nmea_serialport /dev/ttyS1\n"), "{}", r[2].config);
        assert!(r[2].config.contains("[eth1]\nts2phc.extts_polarity rising\n"), "{}", r[2].config);
    }

    #[test]
    fn a_monitored_instance_feeds_the_poller() {
        let c = config("name = \"a\"\ninterface = \"eth1\"\ndomain = 7\nmonitor = true\n");
        assert!(c.ptp.enabled);
        let polled = c.ptp.instances();
        assert_eq!(polled.len(), 1, "{polled:?}");
        assert_eq!(polled[0].name, "a");
        assert_eq!(polled[0].ptp4l_socket, PathBuf::from("/run/t/a.sock"));
        assert_eq!(polled[0].domain, 7);
        let c = config("name = \"a\"\ninterface = \"eth1\"\n");
        assert!(!c.ptp.enabled, "monitoring needs monitor = true");
    }

    #[test]
    fn bad_instances_are_refused() {
        let refused = |text: &str| {
            let full = format!("[linuxptp]\n{text}");
            Config::parse(&full, Path::new("t.toml")).expect_err(text).to_string()
        };
        let one = "[[linuxptp.instance]]\nname = \"a\"\ninterface = \"e\"\n";
        assert!(refused(&format!("{one}{one}")).contains("used twice"));
        assert!(
            refused("[[linuxptp.instance]]\nname = \"a/b\"\ninterface = \"e\"\n").contains("name")
        );
        refused("[[linuxptp.instance]]\nname = \"a\"\ninterface = \"e\"\nrole = \"boss\"\n");
        assert!(refused(
            "[[linuxptp.instance]]\nname = \"a\"\ninterface = \"e\"\n[linuxptp.instance.ts2phc]\nsource = \"nmea\"\n"
        )
        .contains("nmea_serialport"));
        assert!(
            refused("restart_initial_seconds = 9\nrestart_max_seconds = 2\n").contains("exceeds")
        );
    }
}
