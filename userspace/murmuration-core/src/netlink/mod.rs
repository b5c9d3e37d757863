//! A small synchronous rtnetlink client over `netlink-sys` and `netlink-packet-route`.
//!
//! One socket per namespace, opened in that namespace (see [`crate::netns`]).
//! Requests can be batched: several messages go out in one `send`, and every
//! ACK is collected, which keeps an ADD to a handful of syscalls.

mod addr;
#[cfg(test)]
pub(crate) mod canned;
mod link;
mod link_ops;
#[cfg(test)]
pub(crate) mod recorder;
mod vf;

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

pub use addr::{address_of, address_request, route_message, route_request};
pub use link::{LinkInfo, VethSpec, link_up_request};
pub use link_ops::VlanSpec;
pub use vf::{VfChange, VfState, vf_state_from};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket")]
    Socket(#[source] io::Error),
    #[error("{op} refused by the kernel")]
    Kernel {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("undecodable netlink reply")]
    Decode(#[source] netlink_packet_core::DecodeError),
}

impl NetlinkError {
    fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The object is already gone: what DEL counts as success.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENODEV | libc::ENOENT | libc::ESRCH | libc::EADDRNOTAVAIL)
        )
    }

    /// The driver refused an address (igbvf: the VF may not override a MAC its PF set).
    pub fn is_addr_not_avail(&self) -> bool {
        self.errno() == Some(libc::EADDRNOTAVAIL)
    }

    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }
}

/// A request of a batch: the message and what it does, for error messages.
#[derive(Debug)]
pub struct Request {
    pub op: &'static str,
    pub msg: RouteNetlinkMessage,
    pub flags: u16,
}

/// Where requests go and replies come from: the kernel's route netlink
/// socket in production, a recorder in unit tests
/// (`netlink::recorder`, test builds only).
///
/// [`Netlink`] is generic over it rather than holding a `dyn` so that the
/// production client is the same monomorphic code as before (no box, no
/// indirect call per datagram), and `Netlink` alone still names the
/// socket-backed client: only code that wants request-level unit tests
/// takes `Netlink<T>` with `T: Transport`.
pub trait Transport {
    /// Sends one datagram (one or more netlink messages).
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// The length of the next datagram, without consuming it (blocks until one arrives).
    fn next_len(&mut self) -> io::Result<usize>;
    /// Receives the next datagram into `buf`; returns its length.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl Transport for Socket {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        Socket::send(self, datagram, 0).map(drop)
    }

    /// `MSG_PEEK | MSG_TRUNC` returns the datagram's real length.
    fn next_len(&mut self) -> io::Result<usize> {
        let mut probe = [0u8; 16];
        Socket::recv(self, &mut &mut probe[..], libc::MSG_PEEK | libc::MSG_TRUNC)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Socket::recv(self, &mut &mut buf[..], 0)
    }
}

#[derive(Debug)]
pub struct Netlink<T = Socket> {
    sock: T,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Opens a route netlink socket in the calling thread's namespace.
    pub fn open() -> Result<Self, NetlinkError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        sock.bind_auto().map_err(NetlinkError::Socket)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(NetlinkError::Socket)?;
        sock.set_ext_ack(true).map_err(NetlinkError::Socket)?;
        Ok(Self::over(sock))
    }
}

impl<T: Transport> Netlink<T> {
    fn over(sock: T) -> Self {
        Self { sock, seq: 0, buf: vec![0; 64 * 1024] }
    }

    /// Sends one request and waits for its ACK.
    pub fn execute(&mut self, req: Request) -> Result<(), NetlinkError> {
        self.batch(vec![req])
    }

    /// Sends all requests in one datagram and waits for every ACK; the first
    /// refusal is returned (the kernel has processed all requests before it).
    pub fn batch(&mut self, reqs: Vec<Request>) -> Result<(), NetlinkError> {
        if reqs.is_empty() {
            return Ok(());
        }
        let first_seq = self.seq.wrapping_add(1);
        let ops: Vec<&'static str> = reqs.iter().map(|r| r.op).collect();
        let mut out = Vec::new();
        for r in reqs {
            self.encode(r.msg, r.flags | NLM_F_REQUEST | NLM_F_ACK, &mut out);
        }
        self.sock.send(&out).map_err(NetlinkError::Socket)?;
        let mut first_err = None;
        let mut pending = ops.len();
        while pending > 0 {
            self.recv_each(|seq, payload| {
                let Some(op) = ops.get(seq.wrapping_sub(first_seq) as usize) else {
                    return;
                };
                if let NetlinkPayload::Error(e) = payload {
                    pending -= 1;
                    if e.code.is_some() && first_err.is_none() {
                        first_err = Some(NetlinkError::Kernel { op, source: e.to_io() });
                    }
                }
            })?;
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Sends a GET: a dump when `dump`, else a single lookup. Returns the replies.
    pub fn get(
        &mut self,
        op: &'static str,
        msg: RouteNetlinkMessage,
        dump: bool,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let mut out = Vec::new();
        let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
        self.encode(msg, flags, &mut out);
        let seq = self.seq;
        self.sock.send(&out).map_err(NetlinkError::Socket)?;
        let mut replies = Vec::new();
        let mut done = false;
        let mut err = None;
        while !done {
            self.recv_each(|s, payload| {
                if s != seq {
                    return;
                }
                match payload {
                    NetlinkPayload::InnerMessage(m) => {
                        replies.push(m);
                        done |= !dump;
                    }
                    NetlinkPayload::Error(e) => {
                        if e.code.is_some() {
                            err = Some(NetlinkError::Kernel { op, source: e.to_io() });
                        }
                        done = true;
                    }
                    NetlinkPayload::Done(_) => done = true,
                    _ => {}
                }
            })?;
        }
        err.map_or(Ok(replies), Err)
    }

    fn encode(&mut self, msg: RouteNetlinkMessage, flags: u16, out: &mut Vec<u8>) {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let start = out.len();
        out.resize(start + nl.buffer_len(), 0);
        nl.serialize(&mut out[start..]);
    }

    /// Receives one datagram, whatever its size, and hands each message in
    /// it to `f`. The datagram's length is peeked first and the buffer
    /// grown to fit: a
    /// PF with many VFs answers with link messages larger than any fixed
    /// buffer, and a truncated datagram would lose or cut messages.
    fn recv_each(
        &mut self,
        f: impl FnMut(u32, NetlinkPayload<RouteNetlinkMessage>),
    ) -> Result<(), NetlinkError> {
        let len = self.sock.next_len().map_err(NetlinkError::Socket)?;
        if len > self.buf.len() {
            self.buf.resize(len, 0);
        }
        let n = self.sock.recv(&mut self.buf).map_err(NetlinkError::Socket)?;
        for_each_message(&self.buf[..n.min(self.buf.len())], f)
    }
}

/// Decodes every netlink message of one datagram, in order. Total: a
/// length field that runs past the datagram, or one too short for a
/// header, is a decode error, never a panic or an endless loop.
pub fn for_each_message(
    datagram: &[u8],
    mut f: impl FnMut(u32, NetlinkPayload<RouteNetlinkMessage>),
) -> Result<(), NetlinkError> {
    let mut off = 0;
    while off < datagram.len() {
        let data = &datagram[off..];
        let len = NetlinkBuffer::new_checked(data).map_err(NetlinkError::Decode)?.length() as usize;
        let Some(one) = data.get(..len).filter(|m| !m.is_empty()) else {
            break;
        };
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(one)
            .map_err(NetlinkError::Decode)?;
        f(msg.header.sequence_number, msg.payload);
        off += (len + 3) & !3;
    }
    Ok(())
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
