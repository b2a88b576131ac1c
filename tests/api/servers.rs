//! Real `frontline serve` processes for the tests that need more than the in-process server
//! (several processes on one database, signals, a database that goes away), and a small
//! HTTP/1.1 client to talk to them.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::TEST_JWT_SECRET;

/// A `frontline serve` process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One answer: its status, its headers (names in lower case) and its JSON body (or Null).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl Server {
    /// Started on `url` with the test server's signing key, so tokens work on every process,
    /// and a read cache time to live far longer than any wait of a test: only the broadcast
    /// can explain a fresh answer.
    pub async fn start(url: &str) -> Server {
        Self::start_with(url, &[]).await
    }

    /// [`Server::start`] with more environment (`FRONTLINE_...` settings).
    pub async fn start_with(url: &str, env: &[(&str, &str)]) -> Server {
        Self::start_on(url, free_port(), env).await
    }

    /// [`Server::start_with`] on a given port (a process restarted where its clients expect it).
    pub async fn start_on(url: &str, port: u16, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_frontline"));
        command
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", url)
            .env("FRONTLINE_JWT_SECRET", TEST_JWT_SECRET)
            .env("FRONTLINE_RUN_MIGRATIONS", "false")
            .env("FRONTLINE_READ_CACHE_TTL_MS", "600000")
            .env("FRONTLINE_DB_POOL_SIZE", "4")
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_LOG_LEVEL", "off")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the binary runs");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = server.call("GET", "/health/live", None, None).await {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "the server on {port} did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM: Rocket's graceful shutdown (in-flight requests get the grace period).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {}", self.child.id());
    }

    /// Wait for the process to end by itself, at most `limit`; its exit status.
    pub async fn exited(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// One HTTP/1.1 request on a connection of its own: (status, JSON body or Null).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> std::io::Result<(u16, Value)> {
        self.send(method, path, token, body, &[])
            .await
            .map(|r| (r.status, r.body))
    }

    /// [`Server::call`] with more headers, answering with the reply's headers too.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> std::io::Result<Reply> {
        send_to(self.port, method, path, token, body, headers).await
    }
}

/// One HTTP/1.1 request to the server on `port`, on a connection of its own.
pub async fn send_to(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<Reply> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if status == 0 {
        // A connection closed before any answer: to the client, the same as refused.
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "closed without an answer",
        ));
    }
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let payload = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok(Reply {
        status,
        headers,
        body: serde_json::from_str(&payload).unwrap_or(Value::Null),
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// One Server-Sent Events message: a comment (a heartbeat) or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Sse {
    Comment,
    Event {
        id: Option<String>,
        event: Option<String>,
        data: String,
        retry: Option<String>,
    },
}

/// An open event stream, read as it arrives (chunk by chunk, message by message).
pub struct EventReader {
    stream: tokio::net::TcpStream,
    raw: Vec<u8>,
    chunked: bool,
    text: String,
    /// The lines of the message being read.
    pending: Vec<String>,
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub closed: bool,
}

/// `GET path` on `port` with `token` and, when given, `Last-Event-ID`; answers once the
/// response head has arrived.
pub async fn open_stream(
    port: u16,
    path: &str,
    token: &str,
    last_event_id: Option<&str>,
) -> std::io::Result<EventReader> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\
         Authorization: Bearer {token}\r\n"
    );
    if let Some(id) = last_event_id {
        head.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    let end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "closed without an answer",
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let rest = raw[end + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    Ok(EventReader {
        stream,
        raw: rest,
        chunked,
        text: String::new(),
        pending: Vec::new(),
        status,
        headers,
        closed: false,
    })
}

impl EventReader {
    /// Move every complete chunk of `raw` into `text`.
    fn dechunk(&mut self) {
        if !self.chunked {
            self.text.push_str(&String::from_utf8_lossy(&self.raw));
            self.raw.clear();
            return;
        }
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size = String::from_utf8_lossy(&self.raw[..eol]).to_string();
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                self.closed = true;
                return;
            };
            if n == 0 {
                self.closed = true;
                return;
            }
            if self.raw.len() < eol + 2 + n + 2 {
                return;
            }
            let chunk = self.raw[eol + 2..eol + 2 + n].to_vec();
            self.text.push_str(&String::from_utf8_lossy(&chunk));
            self.raw.drain(..eol + 2 + n + 2);
        }
    }

    /// The next message, waiting at most `limit`: `None` when none came in time or the
    /// stream ended. A heartbeat is a comment line (`:`) on its own.
    pub async fn next(&mut self, limit: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            self.dechunk();
            while let Some(i) = self.text.find('\n') {
                let line: String = self.text.drain(..i + 1).collect();
                let line = line.trim_end_matches('\n');
                if line.is_empty() {
                    if !self.pending.is_empty() {
                        let block = std::mem::take(&mut self.pending);
                        return Some(parse_sse(&block.join("\n")));
                    }
                } else if line.starts_with(':') && self.pending.is_empty() {
                    return Some(Sse::Comment);
                } else {
                    self.pending.push(line.to_string());
                }
            }
            if self.closed {
                return None;
            }
            let mut buf = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    self.dechunk();
                }
                Ok(Ok(n)) => self.raw.extend_from_slice(&buf[..n]),
                Err(_) => return None,
            }
        }
    }

    /// The next event (heartbeats skipped), waiting at most `limit` in all.
    pub async fn next_event(&mut self, limit: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Sse::Comment => continue,
                event => return Some(event),
            }
        }
    }
}

fn parse_sse(block: &str) -> Sse {
    let mut id = None;
    let mut event = None;
    let mut retry = None;
    let mut data: Vec<&str> = Vec::new();
    let mut any_field = false;
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        any_field = true;
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_string()),
            "event" => event = Some(value.to_string()),
            "retry" => retry = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if !any_field {
        return Sse::Comment;
    }
    Sse::Event {
        id,
        event,
        data: data.join("\n"),
        retry,
    }
}
