//! A [`Transport`] for unit tests: it records every request message the
//! client sends, byte for byte, and answers each with the next scripted
//! [`Reply`] (an ACK when the script has run out), framed as the kernel
//! frames it: the request's sequence number, an `NLMSG_ERROR` carrying the
//! request's header for an ACK or a refusal, `NLMSG_DONE` after a dump.
//!
//! Test builds only: it is compiled under `#[cfg(test)]`.

use std::collections::VecDeque;
use std::io;
use std::num::NonZeroI32;

use netlink_packet_core::{
    DoneMessage, ErrorMessage, NLM_F_DUMP, NLM_F_MULTIPART, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, NetlinkPayload, Parseable,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;

use super::{Netlink, Transport};

/// The kernel's answer to one request message.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Ack,
    /// A refusal with this errno (e.g. `libc::EINVAL`).
    Errno(i32),
    /// Messages carrying the request's sequence number; a dump request also
    /// gets `NLMSG_DONE` after them.
    Messages(Vec<RouteNetlinkMessage>),
}

/// Records requests and plays back a script of replies.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    script: VecDeque<Reply>,
    sent: Vec<Vec<u8>>,
    datagrams: usize,
    inbox: VecDeque<Vec<u8>>,
}

/// A client over a recorder that answers with `script`, in order.
pub(crate) fn netlink(script: impl IntoIterator<Item = Reply>) -> Netlink<Recorder> {
    Netlink::over(Recorder { script: script.into_iter().collect(), ..Recorder::default() })
}

impl Netlink<Recorder> {
    pub(crate) fn recorder(&self) -> &Recorder {
        &self.sock
    }
}

impl Recorder {
    /// Every request message sent so far, as bytes (one message each, even
    /// when several went out in one datagram).
    pub(crate) fn sent(&self) -> &[Vec<u8>] {
        &self.sent
    }

    /// How many datagrams (`send` calls) carried them.
    pub(crate) fn datagrams(&self) -> usize {
        self.datagrams
    }

    /// Every request message sent so far, decoded.
    pub(crate) fn requests(&self) -> Vec<(NetlinkHeader, RouteNetlinkMessage)> {
        self.sent.iter().map(|b| decode(b)).collect()
    }

    /// Replies still unused: a test that scripted more than the code asked for.
    pub(crate) fn unused(&self) -> usize {
        self.script.len()
    }

    fn answer(&mut self, request: &[u8]) -> io::Result<()> {
        let req = NetlinkBuffer::new_checked(request).map_err(io::Error::other)?;
        let (seq, flags) = (req.sequence_number(), req.flags());
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        let echo = request.get(..16).unwrap_or_default().to_vec();
        let mut out = Vec::new();
        match self.script.pop_front().unwrap_or(Reply::Ack) {
            Reply::Ack => push(&mut out, header, error_payload(0, echo)),
            Reply::Errno(errno) => push(&mut out, header, error_payload(errno, echo)),
            Reply::Messages(msgs) => {
                let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
                if dump {
                    header.flags = NLM_F_MULTIPART;
                }
                for msg in msgs {
                    push(&mut out, header, NetlinkPayload::InnerMessage(msg));
                }
                if dump {
                    push(&mut out, header, NetlinkPayload::Done(DoneMessage::default()));
                }
            }
        }
        self.inbox.push_back(out);
        Ok(())
    }
}

/// Decodes one request. The library parses no `RTM_NEWLINKPROP` or
/// `RTM_DELLINKPROP` (the kernel never sends them), so their link message
/// body is parsed here.
fn decode(b: &[u8]) -> (NetlinkHeader, RouteNetlinkMessage) {
    let header = NetlinkHeader::parse(&NetlinkBuffer::new(b)).expect("a netlink header");
    let body = &b[16..];
    let link = || LinkMessage::parse(body).expect("an altname request's link message");
    let msg = match header.message_type {
        RTM_NEWLINKPROP => RouteNetlinkMessage::NewLinkProp(link()),
        RTM_DELLINKPROP => RouteNetlinkMessage::DelLinkProp(link()),
        _ => match NetlinkMessage::<RouteNetlinkMessage>::deserialize(b)
            .expect("the client sent an undecodable message")
            .payload
        {
            NetlinkPayload::InnerMessage(inner) => inner,
            other => panic!("the client sent a non-route payload: {other:?}"),
        },
    };
    (header, msg)
}

const RTM_NEWLINKPROP: u16 = 108;
const RTM_DELLINKPROP: u16 = 109;

fn error_payload(errno: i32, header: Vec<u8>) -> NetlinkPayload<RouteNetlinkMessage> {
    let mut e = ErrorMessage::default();
    e.code = NonZeroI32::new(-errno);
    e.header = header;
    NetlinkPayload::Error(e)
}

/// Appends one message to a datagram, padded to 4 bytes as the kernel does.
fn push(out: &mut Vec<u8>, header: NetlinkHeader, payload: NetlinkPayload<RouteNetlinkMessage>) {
    let mut nl = NetlinkMessage::new(header, payload);
    nl.finalize();
    let start = out.len();
    out.resize(start + nl.buffer_len(), 0);
    nl.serialize(&mut out[start..]);
    out.resize(out.len().next_multiple_of(4), 0);
}

impl Transport for Recorder {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.datagrams += 1;
        let mut off = 0;
        while off < datagram.len() {
            let rest = &datagram[off..];
            let len = NetlinkBuffer::new_checked(rest).map_err(io::Error::other)?.length() as usize;
            let one = rest.get(..len).filter(|m| !m.is_empty()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "bad message length in a request")
            })?;
            self.sent.push(one.to_vec());
            self.answer(one)?;
            off += len.next_multiple_of(4);
        }
        Ok(())
    }

    /// Nothing queued means the client waits for a reply no request asked
    /// for: an error, not a hang.
    fn next_len(&mut self) -> io::Result<usize> {
        self.inbox.front().map(Vec::len).ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let d = self.inbox.pop_front().ok_or(io::ErrorKind::WouldBlock)?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }
}
