//! Delivery: a minimal HTTP/1.1 POST over a TCP stream (no HTTP client
//! crate: the daemon ships none), and per subscriber a bounded queue that
//! one task drains in order, retrying with backoff. A slow or dead consumer
//! costs its own task and queue, never the daemon's.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PostError {
    #[error("only http://host[:port]/path endpoints are supported")]
    Url,
    #[error("cannot reach the endpoint: {0}")]
    Io(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the endpoint answered {0}")]
    Status(u16),
    #[error("the endpoint's answer is not HTTP")]
    Garbled,
}

/// `http://host[:port][/path]` split into `host:port`, the Host header and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub authority: String,
    pub host_header: String,
    pub path: String,
}

impl Endpoint {
    pub fn parse(uri: &str) -> Result<Self, PostError> {
        let rest = uri.strip_prefix("http://").ok_or(PostError::Url)?;
        let (auth, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        let bad = |c: char| c.is_whitespace() || c.is_control() || c == '@';
        if auth.is_empty() || auth.contains(bad) || path.contains(bad) {
            return Err(PostError::Url);
        }
        let has_port = auth.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty() && (!h.contains(':') || h.ends_with(']')) && p.parse::<u16>().is_ok()
        });
        let authority = if has_port { auth.to_owned() } else { format!("{auth}:80") };
        Ok(Self { authority, host_header: auth.to_owned(), path: path.to_owned() })
    }
}

/// POSTs `body` as JSON; `Ok(status)` for a 2xx answer. The whole exchange
/// (resolve, connect, write, read the status line) is bounded by `timeout`.
pub async fn post(uri: &str, body: &[u8], timeout: Duration) -> Result<u16, PostError> {
    let ep = Endpoint::parse(uri)?;
    let exchange = async {
        let mut s =
            TcpStream::connect(&ep.authority).await.map_err(|e| PostError::Io(e.to_string()))?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            ep.path,
            ep.host_header,
            body.len()
        );
        let io = |e: std::io::Error| PostError::Io(e.to_string());
        s.write_all(head.as_bytes()).await.map_err(io)?;
        s.write_all(body).await.map_err(io)?;
        read_status(&mut s).await
    };
    let status = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| PostError::Timeout(timeout))??;
    if (200..300).contains(&status) { Ok(status) } else { Err(PostError::Status(status)) }
}

/// Reads until the status line is complete: `HTTP/1.x NNN ...`.
async fn read_status(s: &mut TcpStream) -> Result<u16, PostError> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') {
        let n = s.read(&mut chunk).await.map_err(|e| PostError::Io(e.to_string()))?;
        if n == 0 || buf.len() > 4096 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let mut words = line.split_whitespace();
    match (words.next(), words.next().and_then(|c| c.parse().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => Ok(code),
        _ => Err(PostError::Garbled),
    }
}

/// How a queue retries and how much it holds.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub capacity: usize,
    pub timeout: Duration,
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Failed,
    /// Pushed out of a full queue by a newer event.
    Dropped,
}

/// One subscriber's pending events, oldest first.
#[derive(Debug)]
pub struct Queue {
    items: Mutex<VecDeque<Vec<u8>>>,
    ready: Notify,
    pub cancel: CancellationToken,
}

impl Queue {
    pub fn new(cancel: CancellationToken) -> Self {
        Self { items: Mutex::new(VecDeque::new()), ready: Notify::new(), cancel }
    }

    /// Queues `event`; when the queue is full the oldest is dropped (a
    /// consumer wants the latest state most). Returns whether one was dropped.
    pub fn push(&self, event: Vec<u8>, capacity: usize) -> bool {
        let mut q = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        q.push_back(event);
        let dropped = q.len() > capacity.max(1);
        if dropped {
            q.pop_front();
        }
        drop(q);
        self.ready.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Vec<u8>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }

    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drains `q` to `uri` until its token is cancelled; `report` is told each
/// event's outcome.
pub async fn drain(q: &Queue, uri: &str, p: Policy, report: impl Fn(Outcome)) {
    loop {
        let Some(event) = q.pop() else {
            tokio::select! {
                () = q.cancel.cancelled() => return,
                () = q.ready.notified() => continue,
            }
        };
        let mut backoff = p.first_backoff;
        let mut outcome = Outcome::Failed;
        for attempt in 1..=p.attempts.max(1) {
            match post(uri, &event, p.timeout).await {
                Ok(_) => {
                    outcome = Outcome::Delivered;
                    break;
                }
                Err(e) => tracing::debug!(uri, attempt, error = %e, "event not delivered"),
            }
            if attempt < p.attempts {
                tokio::select! {
                    () = q.cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(p.max_backoff);
            }
        }
        if outcome == Outcome::Failed {
            tracing::warn!(uri, attempts = p.attempts, "event dropped after retries");
        }
        report(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_or_are_refused() {
        let ep = Endpoint::parse("http://127.0.0.1:9099/events/x").expect("ok");
        assert_eq!(ep.authority, "127.0.0.1:9099");
        assert_eq!(ep.path, "/events/x");
        let ep = Endpoint::parse("http://consumer.ns.svc").expect("ok");
        assert_eq!((ep.authority.as_str(), ep.path.as_str()), ("consumer.ns.svc:80", "/"));
        let ep = Endpoint::parse("http://[::1]:8080/e").expect("ok");
        assert_eq!(ep.authority, "[::1]:8080");
        for bad in ["https://h/e", "h:80/e", "http:///e", "http://h/a b", "http://u@h/", ""] {
            assert_eq!(Endpoint::parse(bad), Err(PostError::Url), "{bad}");
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let q = Queue::new(CancellationToken::new());
        assert!(!q.push(b"1".to_vec(), 2));
        assert!(!q.push(b"2".to_vec(), 2));
        assert!(q.push(b"3".to_vec(), 2));
        assert_eq!((q.pop(), q.pop(), q.pop()), (Some(b"2".to_vec()), Some(b"3".to_vec()), None));
    }

    #[tokio::test]
    async fn post_reads_the_status_and_times_out_on_a_silent_peer() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut req = vec![0u8; 4096];
            let n = s.read(&mut req).await.expect("read");
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.expect("write");
            let (_silent, _) = l.accept().await.expect("accept 2");
            tokio::time::sleep(Duration::from_secs(5)).await;
            String::from_utf8_lossy(&req[..n]).into_owned()
        });
        let uri = format!("http://{addr}/sink");
        assert_eq!(post(&uri, b"{}", Duration::from_secs(5)).await, Ok(204));
        let t = Duration::from_millis(200);
        assert_eq!(post(&uri, b"{}", t).await, Err(PostError::Timeout(t)));
        server.abort();
        let closed = format!("http://{addr}/sink");
        assert!(matches!(
            post(&closed, b"{}", t).await,
            Err(PostError::Io(_) | PostError::Timeout(_))
        ));
    }
}
