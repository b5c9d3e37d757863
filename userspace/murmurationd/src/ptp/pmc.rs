//! A management client for ptp4l's UNIX-domain socket (what `pmc -u -b 0` does).
//!
//! The client binds its own socket path (ptp4l answers to the sender's
//! address), sends GETs and collects responses until each was answered or
//! the timeout passes. PORT_DATA_SET is answered once per port.

use std::path::{Path, PathBuf};
use std::time::Duration;

use murmuration_core::ptp::mgmt::{self, Dataset, Requester, Response};
use tokio::net::UnixDatagram;

#[derive(Debug, thiserror::Error)]
pub enum PmcError {
    #[error("cannot bind the client socket {path}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot reach ptp4l at {path}")]
    Send {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer from ptp4l within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug)]
pub struct Pmc {
    sock: UnixDatagram,
    local: PathBuf,
    server: PathBuf,
    me: Requester,
    seq: u16,
}

impl Drop for Pmc {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.local);
    }
}

impl Pmc {
    /// Binds `<run_dir>/murmurationd.<tag>.pmc` and talks to `server`.
    pub fn bind(run_dir: &Path, tag: &str, server: &Path, domain: u8) -> Result<Self, PmcError> {
        let pid = std::process::id();
        let local = run_dir.join(format!("murmurationd.{tag}.pmc"));
        let _ = std::fs::remove_file(&local);
        let sock = UnixDatagram::bind(&local)
            .map_err(|source| PmcError::Bind { path: local.clone(), source })?;
        let mut clock_identity = [0xfe; 8];
        clock_identity[4..].copy_from_slice(&pid.to_be_bytes());
        let me = Requester { clock_identity, port_number: (pid & 0xffff) as u16, domain };
        Ok(Self { sock, local, server: server.to_owned(), me, seq: 0 })
    }

    /// Sends one GET per dataset and returns every response received before
    /// `timeout` (waiting a little longer after the last for extra ports).
    pub async fn get(
        &mut self,
        datasets: &[Dataset],
        timeout: Duration,
    ) -> Result<Vec<Response>, PmcError> {
        let first = self.seq;
        for ds in datasets {
            self.seq = self.seq.wrapping_add(1);
            let msg = self.me.get(*ds, self.seq);
            self.sock
                .send_to(&msg, &self.server)
                .await
                .map_err(|source| PmcError::Send { path: self.server.clone(), source })?;
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1500];
        let deadline = tokio::time::Instant::now() + timeout;
        let mut answered = 0usize;
        loop {
            // Once every GET was answered, linger briefly for other ports.
            let until = if answered >= datasets.len() {
                (tokio::time::Instant::now() + Duration::from_millis(20)).min(deadline)
            } else {
                deadline
            };
            let Ok(Ok(n)) = tokio::time::timeout_at(until, self.sock.recv(&mut buf)).await else {
                break;
            };
            // This poll's GETs carry first+1..=first+n; anything else is a
            // late reply to an earlier poll.
            if let Ok((seq, r)) = mgmt::decode(&buf[..n])
                && (1..=datasets.len()).contains(&usize::from(seq.wrapping_sub(first)))
            {
                answered += 1;
                out.push(r);
            }
        }
        if out.is_empty() { Err(PmcError::Timeout(timeout)) } else { Ok(out) }
    }
}
