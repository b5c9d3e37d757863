//! Command line: the config file plus the usual overrides, each also
//! settable from the environment (flags win over the environment, both over
//! the file).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::config::{Config, ConfigError};

#[derive(Debug, Parser)]
#[command(name = "murmurationd", version, about = "murmuration node daemon")]
pub struct Args {
    /// TOML config file; without it every setting has its default.
    #[arg(long, short, env = "MURMURATIOND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the metrics/status endpoint.
    #[arg(long, env = "MURMURATIOND_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The CNI plugin's dataDir.
    #[arg(long, env = "MURMURATIOND_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Tracing filter (`info`, `debug`, `murmurationd=trace`...).
    #[arg(long, env = "MURMURATIOND_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Disable stale-attachment cleanup (inventory and metrics only).
    #[arg(long, env = "MURMURATIOND_NO_CLEANUP")]
    pub no_cleanup: bool,
    /// Validate the configuration, print it resolved, and exit.
    #[arg(long)]
    pub check_config: bool,
}

impl Args {
    /// The file (or defaults) with the overrides applied, validated.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let mut cfg = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(l) = self.listen {
            cfg.http.listen = l;
        }
        if let Some(d) = &self.data_dir {
            cfg.state.data_dir.clone_from(d);
        }
        if let Some(l) = &self.log_level {
            cfg.log.level.clone_from(l);
        }
        if self.no_cleanup {
            cfg.cleanup.enabled = false;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("d.toml");
        std::fs::write(&file, "[http]\nlisten = \"127.0.0.1:1\"\n[state]\ndata_dir = \"/f\"\n")
            .expect("write");
        let args = Args::try_parse_from([
            "murmurationd",
            "--config",
            file.to_str().expect("utf8"),
            "--listen",
            "127.0.0.1:2",
            "--no-cleanup",
        ])
        .expect("args");
        let cfg = args.resolve().expect("config");
        assert_eq!(cfg.http.listen.port(), 2);
        assert_eq!(cfg.state.data_dir, PathBuf::from("/f"));
        assert!(!cfg.cleanup.enabled);
    }

    #[test]
    fn bad_override_is_refused() {
        let args =
            Args::try_parse_from(["murmurationd", "--log-level", "[[["]).expect("args parse");
        assert!(args.resolve().is_err());
        assert!(Args::try_parse_from(["murmurationd", "--listen", "x"]).is_err());
    }
}
