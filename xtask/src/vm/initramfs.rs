//! Builds the guest's initramfs: busybox, the modules the tests need (with
//! their dependencies, resolved from each module's `depends=` since the host
//! has no depmod), the host's network tools with their shared libraries, the
//! Go reference plugins and the harness's `init`. Packed uncompressed with
//! busybox cpio: decompressing under TCG would cost more than reading it.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::sh;

/// Modules loaded at boot, in this order after their dependencies, with parameters.
const MODULES: &[(&str, &str)] = &[
    ("9pnet_virtio", ""),
    ("9p", ""),
    ("igb", ""),
    ("igbvf", ""),
    ("8021q", ""),
    ("veth", ""),
    // The bridge baseline of `datapath-vm`.
    ("bridge", ""),
    // A VF bound to vfio-pci, behind the guest's virtual IOMMU (Debian's
    // kernel has no CONFIG_VFIO_NOIOMMU, see docs/kernel-support.md).
    ("vfio", ""),
    ("vfio_pci", ""),
    ("sch_ingress", ""),
    ("cls_bpf", ""),
    ("act_bpf", ""),
];

/// Host binaries copied into the guest at the same path, with their libraries.
const HOST_BINARIES: &[&str] = &[
    "/usr/sbin/ip",
    "/usr/sbin/tc",
    "/usr/sbin/bridge",
    "/usr/sbin/ethtool",
    "/usr/sbin/bpftool",
    "/usr/sbin/ptp4l",
    "/usr/sbin/phc_ctl",
    "/usr/sbin/hwstamp_ctl",
    "/usr/lib/cni/host-local",
    "/usr/lib/cni/static",
    // The baseline of `cargo xtask vm-bench` (cni-vm).
    "/usr/lib/cni/host-device",
];

/// Builds `out` (an uncompressed newc cpio) from the extracted kernel at `kernel_root`.
pub fn build(kernel_root: &Path, release: &str, init: &Path, out: &Path) -> Result<()> {
    let root = tempfile::Builder::new().prefix("murmuration-rootfs").tempdir()?;
    let root = root.path();
    for dir in ["proc", "sys", "dev", "tmp", "run", "mnt", "etc", "var", "sbin", "usr/sbin"] {
        fs::create_dir_all(root.join(dir))?;
    }
    install_busybox(root)?;
    install_modules(&kernel_root.join("lib/modules").join(release), root, release)?;
    for bin in HOST_BINARIES {
        copy_with_libs(Path::new(bin), root)?;
    }
    // Debian's busybox ash prefers its applets: keep iproute2 reachable as /sbin/ip.
    std::os::unix::fs::symlink("/usr/sbin/ip", root.join("sbin/ip"))?;
    copy_file(init, &root.join("init"), 0o755)?;
    pack(root, out)
}

fn install_busybox(root: &Path) -> Result<()> {
    let bin = root.join("bin");
    fs::create_dir_all(&bin)?;
    copy_file(Path::new("/bin/busybox"), &bin.join("busybox"), 0o755)?;
    let list = sh::capture(Command::new("/bin/busybox").arg("--list"))?;
    for applet in list.lines().map(str::trim).filter(|a| !a.is_empty()) {
        let link = bin.join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link)?;
        }
    }
    Ok(())
}

fn install_modules(moddir: &Path, root: &Path, release: &str) -> Result<()> {
    let order = fs::read_to_string(moddir.join("modules.order")).context("modules.order")?;
    let builtin = fs::read_to_string(moddir.join("modules.builtin")).unwrap_or_default();
    let mut resolver = Resolver {
        moddir,
        dest: root.join("lib/modules").join(release),
        order: order.lines().map(str::to_owned).collect(),
        builtin: builtin.lines().map(module_name).collect(),
        seen: HashSet::new(),
        load: Vec::new(),
    };
    for (name, params) in MODULES {
        resolver.resolve(name, params)?;
    }
    fs::write(root.join("etc/modules.load"), resolver.load.join("\n") + "\n")?;
    Ok(())
}

/// `kernel/drivers/net/ethernet/intel/igb/igb.ko.xz` -> `igb` (dashes as underscores).
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

#[derive(Debug)]
struct Resolver<'a> {
    moddir: &'a Path,
    dest: PathBuf,
    order: Vec<String>,
    builtin: HashSet<String>,
    seen: HashSet<String>,
    /// Lines of `etc/modules.load`: relative path and parameters, dependencies first.
    load: Vec<String>,
}

impl Resolver<'_> {
    fn resolve(&mut self, name: &str, params: &str) -> Result<()> {
        let name = name.replace('-', "_");
        if !self.seen.insert(name.clone()) || self.builtin.contains(&name) {
            return Ok(());
        }
        let rel = self
            .order
            .iter()
            .find(|p| module_name(p) == name)
            .with_context(|| format!("module {name} is not in modules.order"))?
            .clone();
        let ko_rel = rel.trim_end_matches(".xz").trim_end_matches(".zst").to_owned();
        let dest = self.dest.join(&ko_rel);
        fs::create_dir_all(dest.parent().context("module path")?)?;
        decompress(&self.moddir.join(&rel), &dest)?;
        for dep in depends(&fs::read(&dest)?) {
            self.resolve(&dep, "")?;
        }
        self.load.push(format!("{ko_rel} {params}").trim_end().to_owned());
        Ok(())
    }
}

/// `modules.order` names `.ko`; the package ships `.ko.xz`.
fn decompress(src: &Path, dest: &Path) -> Result<()> {
    let xz = src.with_file_name(format!(
        "{}.xz",
        src.file_name().and_then(|n| n.to_str()).unwrap_or_default()
    ));
    if src.is_file() {
        fs::copy(src, dest)?;
        return Ok(());
    }
    let file = fs::File::create(dest)?;
    let status = Command::new("xz").arg("-dc").arg(&xz).stdout(file).status()?;
    if !status.success() {
        bail!("cannot decompress {}", xz.display());
    }
    Ok(())
}

/// The `depends=` entry of a module's `.modinfo`.
fn depends(ko: &[u8]) -> Vec<String> {
    let needle = b"depends=";
    ko.windows(needle.len())
        .position(|w| w == needle)
        .map(|at| {
            let rest = &ko[at + needle.len()..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end])
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn copy_file(src: &Path, dest: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(src, dest).with_context(|| format!("copying {}", src.display()))?;
    fs::set_permissions(dest, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Copies a host executable to the same path under `root`, with what `ldd` lists.
fn copy_with_libs(bin: &Path, root: &Path) -> Result<()> {
    let inside = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    copy_file(bin, &inside(bin), 0o755)?;
    let out = Command::new("ldd").arg(bin).stderr(Stdio::null()).output()?;
    for lib in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let lib = Path::new(lib);
        if lib.is_absolute() && lib.is_file() && !inside(lib).exists() {
            let real = fs::canonicalize(lib)?;
            copy_file(&real, &inside(lib), 0o755)?;
        }
    }
    Ok(())
}

fn pack(root: &Path, out: &Path) -> Result<()> {
    let mut list = Vec::new();
    collect(root, Path::new("."), &mut list)?;
    let tmp = out.with_extension("tmp");
    let file = fs::File::create(&tmp)?;
    let mut child = Command::new("/bin/busybox")
        .args(["cpio", "-o", "-H", "newc"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
        .context("starting busybox cpio")?;
    let mut stdin = child.stdin.take().context("cpio stdin")?;
    stdin.write_all((list.join("\n") + "\n").as_bytes())?;
    drop(stdin);
    if !child.wait()?.success() {
        bail!("busybox cpio failed");
    }
    fs::rename(&tmp, out)?;
    Ok(())
}

fn collect(root: &Path, rel: &Path, list: &mut Vec<String>) -> Result<()> {
    list.push(rel.display().to_string());
    let path = root.join(rel);
    if path.is_dir() && !path.is_symlink() {
        let mut entries: Vec<_> = fs::read_dir(&path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            collect(root, &rel.join(entry.file_name()), list)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{depends, module_name};

    #[test]
    fn module_names_and_depends() {
        assert_eq!(module_name("kernel/drivers/net/ethernet/intel/igb/igb.ko.xz"), "igb");
        assert_eq!(module_name("kernel/net/9p/9pnet-virtio.ko"), "9pnet_virtio");
        let ko = b"\x7fELF...license=GPL\0depends=dca,i2c-algo-bit\0vermagic=6.12\0";
        assert_eq!(depends(ko), ["dca", "i2c-algo-bit"]);
        assert!(depends(b"depends=\0").is_empty());
    }
}
