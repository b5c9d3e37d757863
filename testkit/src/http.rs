//! A tiny HTTP client for the daemon's endpoints: one GET per connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A plain HTTP/1.0 GET; returns (status, body).
pub fn http_get(addr: &str, path: &str) -> io::Result<(u16, String)> {
    request(addr, path, &[])
}

/// A GET with an `Accept` header; returns (status, body).
pub fn http_get_accept(addr: &str, path: &str, accept: &str) -> io::Result<(u16, String)> {
    request(addr, path, &[("Accept", accept)])
}

fn request(addr: &str, path: &str, headers: &[(&str, &str)]) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, body.to_owned()))
}
