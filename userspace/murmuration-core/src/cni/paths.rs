//! The root-owned path policy: the plugin runs as root and takes paths from
//! a network config that a cluster user may have written (a
//! NetworkAttachmentDefinition, `runtimeConfig` from pod annotations), so
//! every path it will create, write, rename over or delete is checked
//! before anything happens (code 7):
//!
//! * `dataDir`, `logFile`, `bpfPinRoot` and `runtimeConfig.CNIDeviceInfoFile`
//!   are absolute, without `..`, without NUL, and no existing part of them
//!   is a symlink (so they cannot be bent to another place later);
//! * a device-info file lives directly in the NPWG device-info directory
//!   ([`DEVINFO_DIR`]) under the name Multus gives it,
//!   `<namespace>-<network>-<containerID>_<ifname>` (optionally `.json`);
//! * an existing `dataDir` open to group or others is tightened to 0700.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use super::config::{NetConf, bad_msg};
use super::env::CniEnv;
use super::error::CniError;

/// Where the NPWG Device Information spec puts the CNI's device-info files.
pub const DEVINFO_DIR: &str = "/var/run/k8s.cni.cncf.io/devinfo/cni";

/// Checks every path the config names; see the module docs.
pub fn check(conf: &NetConf, env: &CniEnv) -> Result<(), CniError> {
    plain("dataDir", &conf.data_dir)?;
    if let Some(log) = &conf.log_file {
        plain("logFile", log)?;
    }
    if let Some(fp) = &conf.fastpath {
        plain("bpfPinRoot", &fp.pin_root)?;
    }
    if let Some(lock) = &conf.ptp_lock {
        plain("ptpStateFile", &lock.state_file)?;
    }
    if let Some(file) = &conf.runtime.device_info_file {
        device_info(file, env)?;
    }
    tighten(&conf.data_dir);
    Ok(())
}

/// Absolute, no `..`, no NUL, and no symlink in the part that exists.
fn plain(key: &str, path: &Path) -> Result<(), CniError> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(bad_msg(format!("{key} {shown}: must be an absolute path")));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(bad_msg(format!("{key} {shown}: must not contain \"..\"")));
    }
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(bad_msg(format!("{key}: must not contain NUL")));
    }
    if let Some(link) = path.ancestors().find(|p| p.is_symlink()) {
        return Err(bad_msg(format!(
            "{key} {shown}: {} is a symlink (name the real path)",
            link.display()
        )));
    }
    Ok(())
}

/// The device-info file: the NPWG directory, Multus's name for this attachment.
fn device_info(file: &Path, env: &CniEnv) -> Result<(), CniError> {
    let key = "runtimeConfig.CNIDeviceInfoFile";
    let shown = file.display();
    let refuse = |why: &str| Err(bad_msg(format!("{key} {shown}: {why}")));
    if file.parent() != Some(Path::new(DEVINFO_DIR)) {
        return refuse(&format!("must be a file directly in {DEVINFO_DIR}"));
    }
    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
        return refuse("not a file name");
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return refuse("the name may hold only letters, digits, '.', '_' and '-'");
    }
    let Some(id) = env.attachment() else {
        return refuse("needs CNI_CONTAINERID and CNI_IFNAME");
    };
    let own = format!("{}_{}", id.container_id, id.ifname);
    let stem = name.strip_suffix(".json").unwrap_or(name);
    if !stem.ends_with(&own) {
        return refuse(&format!("the name must end with {own} (this attachment's)"));
    }
    // The directory itself is where the spec says it is, not a symlink to
    // elsewhere (/var/run -> /run is resolved by the kernel, not by us).
    let real = std::fs::canonicalize(DEVINFO_DIR).ok();
    let expected =
        std::fs::canonicalize("/var/run").ok().map(|r| r.join("k8s.cni.cncf.io/devinfo/cni"));
    if real.is_some() && real != expected {
        return refuse("the device-info directory is a symlink");
    }
    if file.is_symlink() {
        return refuse("is a symlink");
    }
    Ok(())
}

/// The `dataDir` of a config that was refused, for its operation record:
/// only a plain path (as [`check`] demands) that already holds this plugin's
/// state (`store.lock`), so a refused config cannot make root create a file
/// anywhere else.
pub fn peek_data_dir(stdin: &[u8]) -> Option<std::path::PathBuf> {
    #[derive(serde::Deserialize)]
    struct D {
        #[serde(rename = "dataDir")]
        data_dir: Option<std::path::PathBuf>,
    }
    let d = serde_json::from_slice::<D>(stdin).ok().and_then(|d| d.data_dir);
    let dir = d.unwrap_or_else(|| super::config::DEFAULT_DATA_DIR.into());
    let ours = plain("dataDir", &dir).is_ok() && dir.join("store.lock").is_file();
    ours.then_some(dir)
}

/// An existing `dataDir` open to group or others becomes 0700.
fn tighten(dir: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return };
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_dir() && mode & 0o077 != 0 {
        match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            Ok(()) => {
                tracing::warn!(dir = %dir.display(), from = format!("{mode:o}"), "dataDir tightened to 0700")
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot tighten dataDir"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(cid: &str, ifname: &str) -> CniEnv {
        let vars: HashMap<String, String> = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", cid),
            ("CNI_IFNAME", ifname),
            ("CNI_NETNS", "/var/run/netns/x"),
            ("CNI_PATH", "/opt/cni/bin"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        CniEnv::from_vars(&vars).expect("env")
    }

    #[test]
    fn config_paths_must_be_absolute_and_plain() {
        assert!(plain("dataDir", Path::new("/var/lib/cni/murmuration")).is_ok());
        for bad in ["relative/dir", "/var/lib/../../etc", "/var/run/murmuration"] {
            let e = plain("dataDir", Path::new(bad)).expect_err(bad);
            assert_eq!(e.code, 7, "{bad}: {e}");
        }
        let e = plain("logFile", Path::new("/var/run/x.log")).expect_err("symlink");
        assert!(e.msg.contains("/var/run is a symlink"), "{e}");
    }

    #[test]
    fn device_info_files_are_multus_named_in_the_npwg_directory() {
        let e = env("abc123", "net1");
        let ok = format!("{DEVINFO_DIR}/default-sriov-net-abc123_net1");
        assert!(device_info(Path::new(&ok), &e).is_ok());
        assert!(device_info(Path::new(&format!("{ok}.json")), &e).is_ok());
        for bad in [
            "/etc/shadow".to_owned(),
            format!("{DEVINFO_DIR}/../../../../etc/abc123_net1"),
            format!("{DEVINFO_DIR}/sub/default-abc123_net1"),
            format!("{DEVINFO_DIR}/default-other_net1"),
            format!("{DEVINFO_DIR}/default-abc123_net2"),
            format!("{DEVINFO_DIR}/x abc123_net1"),
        ] {
            let r = device_info(Path::new(&bad), &e);
            assert_eq!(r.map_err(|e| e.code), Err(7), "{bad}");
        }
    }
}
