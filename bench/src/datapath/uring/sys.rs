//! The io_uring generator's ring: `send` SQEs that the kernel runs after
//! `push` returns, reading a payload buffer this module owns. The one
//! `unsafe` call (queueing such an SQE) is here.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use io_uring::{IoUring, opcode, squeue, types};

/// `depth` sends of one payload in flight on one connected UDP socket, which
/// is registered with the ring (a fixed file: no fd lookup per send).
pub struct SendRing {
    // Field order is drop order: the ring is closed before the payload is freed.
    ring: IoUring,
    send: squeue::Entry,
    payload: Box<[u8]>,
    _sock: UdpSocket,
    depth: u32,
    in_flight: u32,
}

impl SendRing {
    pub fn new(sock: UdpSocket, size: usize, depth: u32) -> io::Result<Self> {
        let ring = IoUring::new(depth)?;
        ring.submitter().register_files(&[sock.as_raw_fd()])?;
        let payload = vec![0xa5u8; size].into_boxed_slice();
        let len = u32::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let send = opcode::Send::new(types::Fixed(0), payload.as_ptr(), len).build();
        Ok(Self { ring, send, payload, _sock: sock, depth, in_flight: 0 })
    }

    /// Queues sends until `depth` are in flight.
    pub fn fill(&mut self) {
        let mut sq = self.ring.submission();
        while self.in_flight < self.depth {
            // SAFETY: the SQE points at `self.payload`, a boxed slice that is
            // never written, moved out or freed while a send is in flight:
            // `in_flight` counts every queued SQE until its CQE is reaped, and
            // `Drop` reaps them all before the fields go (or leaks the payload
            // if it cannot). The fixed file 0 is `self._sock`, registered in
            // `new`. The ring has `depth` entries, so `push` has room.
            if unsafe { sq.push(&self.send) }.is_err() {
                break;
            }
            self.in_flight += 1;
        }
    }

    /// Submits what is queued, waits for at least `want` completions and
    /// hands each one's result (bytes sent or `-errno`) to `each`.
    pub fn submit_and_reap(&mut self, want: u32, mut each: impl FnMut(i32)) -> io::Result<()> {
        match self.ring.submit_and_wait(want.min(self.in_flight) as usize) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
            _ => {}
        }
        for cqe in self.ring.completion() {
            self.in_flight -= 1;
            each(cqe.result());
        }
        Ok(())
    }

    /// Reaps every send still in flight.
    pub fn drain(&mut self, mut each: impl FnMut(i32)) -> io::Result<()> {
        while self.in_flight > 0 {
            self.submit_and_reap(self.in_flight, &mut each)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for SendRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRing")
            .field("size", &self.payload.len())
            .field("depth", &self.depth)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl Drop for SendRing {
    fn drop(&mut self) {
        if self.drain(|_| {}).is_err() {
            // The kernel may still read it: leak rather than free.
            std::mem::forget(std::mem::take(&mut self.payload));
        }
    }
}
