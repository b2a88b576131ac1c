//! Several `frontline serve` processes on one database behave as one (issue #14, item 3):
//! each test starts real server processes of the binary beside the in-process test server.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use frontline::auth::Role;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// A `frontline serve` process on the test database; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Server {
    /// Started with the test server's signing key, so tokens work on every process, and a read
    /// cache time to live far longer than any wait below: only the broadcast can explain a
    /// fresh answer.
    async fn start(db: &TestDb) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", &db.url)
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
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary runs");
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

    /// One HTTP/1.1 request on a connection of its own: (status, JSON body or Null).
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> std::io::Result<(u16, Value)> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
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
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let payload = if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        Ok((
            status,
            serde_json::from_str(&payload).unwrap_or(Value::Null),
        ))
    }
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

const BOARD: &str = "/api/v1/leaderboards/members?period=all";

async fn my_points(server: &Server, token: &str) -> i64 {
    let (status, board) = server.call("GET", BOARD, Some(token), None).await.unwrap();
    assert_eq!(status, 200, "{board}");
    board["me"]["points"].as_i64().unwrap_or(0)
}

/// A recognition written through one process is on another process's boards, which had the
/// board cached, within a second: the write is broadcast through PostgreSQL LISTEN/NOTIFY.
#[rocket::async_test]
async fn a_point_written_through_one_process_is_on_the_others_boards() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let (a, b) = tokio::join!(Server::start(&app.db), Server::start(&app.db));

    let before = my_points(&b, &ben.token).await;
    assert_eq!(my_points(&b, &ben.token).await, before, "cached on b");

    let (status, given) = a
        .call(
            "POST",
            "/api/v1/recognitions",
            Some(&ana.token),
            Some(json!({ "recipients": [ben.id], "message": "thanks for the save", "points": 5 })),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{given}");
    let written = Instant::now();
    let mut seen = before;
    while seen != before + 5 && written.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = my_points(&b, &ben.token).await;
    }
    assert_eq!(
        seen,
        before + 5,
        "b still serves its cached board after {:?}",
        written.elapsed()
    );
    // The contract is one second; the margin is for a loaded test machine. Without the
    // broadcast, b would serve its cached answer for the 10-minute time to live.
    assert!(
        written.elapsed() < Duration::from_secs(3),
        "on b after {:?}",
        written.elapsed()
    );
}
