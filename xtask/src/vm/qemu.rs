//! Boots the test guest under QEMU and reports how it ended.
//!
//! q35 with two emulated Intel 82576 NICs (`igb`, 7 VFs each) on one QEMU hub:
//! the first is the PF under test, the second a "wire" peer that sees every
//! frame the PF (or one of its VFs) sends. The share directory is exported
//! over 9p; the guest reports its status through isa-debug-exit. TCG only:
//! this machine's `/dev/kvm` runs PVM guests only (see docs/kernel-support.md).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How a boot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The guest wrote its status to isa-debug-exit.
    Guest(i32),
    /// QEMU exited another way (crash, bad option, guest powered off without a status).
    Qemu(Option<i32>),
    /// The hard timeout expired; QEMU was killed.
    TimedOut,
    /// The guest kernel kept reporting a CPU whose timer no longer fires
    /// ([`STALL`]): the emulated CPU is wedged and the guest will never
    /// finish, so QEMU was killed without waiting for the hard timeout.
    Stalled,
}

/// What the guest kernel prints when a CPU's timer interrupt has stopped
/// (RCU's grace-period kthread waiting on a timer of a dead CPU). Seen under
/// TCG with an otherwise idle guest CPU; a slow but healthy guest does not
/// print it over and over.
pub const STALL: &str = "timer wakeup didn't happen";
/// How many [`STALL`] reports (about 21 s apart) count as wedged.
const STALL_REPORTS: usize = 2;

/// Whether the console shows a wedged guest CPU.
pub fn stalled(console: &str) -> bool {
    console.matches(STALL).count() >= STALL_REPORTS
}

#[derive(Debug)]
pub struct Boot {
    pub ending: Ending,
    pub wall: Duration,
}

pub const QEMU: &str = "qemu-system-x86_64";

fn command(kernel: &Path, initrd: &Path, share: &Path) -> Command {
    let mut cmd = Command::new(QEMU);
    cmd.args(["-accel", "tcg", "-cpu", "max", "-machine", "q35", "-m", "1024", "-smp", "2"])
        .args(["-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        // A virtual IOMMU, so a VF can be bound to vfio-pci: Debian's kernel
        // has no CONFIG_VFIO_NOIOMMU. Host drivers stay identity-mapped (`iommu=pt`).
        .args(["-device", "intel-iommu,intremap=off"])
        .args(["-device", "pcie-root-port,id=rp1,chassis=1,slot=1"])
        .args(["-device", "pcie-root-port,id=rp2,chassis=2,slot=2"])
        .args(["-netdev", "hubport,id=hp0,hubid=0", "-netdev", "hubport,id=hp1,hubid=0"])
        .args(["-device", "igb,netdev=hp0,bus=rp1,mac=52:54:00:4d:00:01"])
        .args(["-device", "igb,netdev=hp1,bus=rp2,mac=52:54:00:4d:00:02"])
        .arg("-virtfs")
        .arg(format!("local,path={},mount_tag=share,security_model=none,id=share", share.display()))
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet loglevel=4 intel_iommu=on iommu=pt"]);
    cmd
}

/// Boots the guest with the console going to `log`; kills QEMU (by its PID)
/// when `limit` expires or when the console shows a wedged CPU.
pub fn boot(
    kernel: &Path,
    initrd: &Path,
    share: &Path,
    log: &Path,
    limit: Duration,
) -> Result<Boot> {
    let mut cmd = command(kernel, initrd, share);
    let console = File::create(log).context("creating the console log")?;
    cmd.stdin(Stdio::null()).stdout(console.try_clone()?).stderr(console);
    eprintln!("$ {}", crate::sh::display(&cmd));
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {QEMU}"))?;
    let pid = child.id();
    let mut polls = 0u64;
    let ending = loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            break decode(status.code());
        }
        let end = if start.elapsed() >= limit {
            eprintln!("vm: hard timeout of {limit:?} expired; killing QEMU pid {pid}");
            Some(Ending::TimedOut)
        } else if polls.is_multiple_of(50)
            && stalled(&std::fs::read_to_string(log).unwrap_or_default())
        {
            eprintln!("vm: the guest reports a CPU whose timer stopped; killing QEMU pid {pid}");
            Some(Ending::Stalled)
        } else {
            None
        };
        if let Some(end) = end {
            child.kill().with_context(|| format!("killing QEMU pid {pid}"))?;
            child.wait().with_context(|| format!("reaping QEMU pid {pid}"))?;
            break end;
        }
        polls += 1;
        std::thread::sleep(Duration::from_millis(100));
    };
    Ok(Boot { ending, wall: start.elapsed() })
}

/// isa-debug-exit makes QEMU exit with `(value << 1) | 1`.
fn decode(code: Option<i32>) -> Ending {
    match code {
        Some(c) if c & 1 == 1 => Ending::Guest(c >> 1),
        other => Ending::Qemu(other),
    }
}

#[cfg(test)]
mod tests {
    use super::{Ending, decode, stalled};

    #[test]
    fn debug_exit_status_is_decoded() {
        assert_eq!(decode(Some(1)), Ending::Guest(0));
        assert_eq!(decode(Some(3)), Ending::Guest(1));
        assert_eq!(decode(Some(0)), Ending::Qemu(Some(0)));
        assert_eq!(decode(None), Ending::Qemu(None));
    }

    #[test]
    fn a_repeated_dead_timer_report_is_a_stall_and_one_is_not() {
        let line = "[   63.164376] rcu: rcu_preempt kthread timer wakeup didn't happen for \
                    5251 jiffies! g10477 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x402\n";
        assert!(!stalled("VMTEST_BEGIN a\n"));
        assert!(!stalled(line), "one report may be a slow host");
        assert!(stalled(&line.repeat(2)));
    }
}
