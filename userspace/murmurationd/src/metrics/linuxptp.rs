//! The supervised linuxptp programs' metrics, labelled `instance` and `program`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Labels;
use super::label::Lv;

#[derive(Debug, Default)]
pub struct LinuxPtpMetrics {
    pub up: Family<Labels, Gauge>,
    pub restarts: Family<Labels, Counter>,
    pub last_exit_code: Family<Labels, Gauge>,
}

impl LinuxPtpMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "murmuration_linuxptp_up",
            "1 while the supervised program runs (instance, program)",
            self.up.clone(),
        );
        r.register(
            "murmuration_linuxptp_restarts",
            "Times the daemon restarted the supervised program after it exited",
            self.restarts.clone(),
        );
        r.register(
            "murmuration_linuxptp_last_exit_code",
            "Exit code of the program's last exit (128 + signal when killed; -1 when it could not be started)",
            self.last_exit_code.clone(),
        );
    }

    pub fn labels(instance: &str, program: &str) -> Labels {
        vec![("instance", Lv::from(instance.to_owned())), ("program", Lv::from(program.to_owned()))]
    }
}
