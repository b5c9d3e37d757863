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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn get_sends_accept_and_reads_status_and_body() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let head: Vec<String> = BufReader::new(s.try_clone().expect("dup"))
                .lines()
                .map(|l| l.expect("line"))
                .take_while(|l| !l.is_empty())
                .collect();
            s.write_all(b"HTTP/1.0 404 Not Found\r\nX: y\r\n\r\nno such page").expect("answer");
            head
        });
        let got = http_get_accept(&addr, "/metrics", "text/plain").expect("GET");
        assert_eq!(got, (404, "no such page".to_owned()));
        let head = server.join().expect("server");
        assert_eq!(head[0], "GET /metrics HTTP/1.0");
        assert!(head.contains(&"Accept: text/plain".to_owned()), "{head:?}");
    }
}
