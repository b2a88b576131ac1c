//! PostgreSQL stopped (`immediate`) and started again under write load (issue #14, item 4).
//!
//! The shared server of the other tests cannot be stopped, so this test starts a PostgreSQL
//! cluster of its own on a free port (initdb and pg_ctl, as `scripts/db.sh` does; as root they
//! run as the `postgres` user through runuser, since PostgreSQL refuses root), and a real
//! `frontline serve` process on it. Without PostgreSQL's server programs it says so and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::sql_types::{Array, BigInt, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::servers::{Server, free_port};

/// A private cluster under a temporary directory; stopped and deleted when dropped.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The newest `/usr/lib/postgresql/*/bin` with the server programs, else `initdb`'s on PATH.
fn server_bin() -> Option<PathBuf> {
    let has = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| d.join(p).is_file())
    };
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has(d))
        .collect();
    versions.sort();
    if let Some((_, d)) = versions.pop() {
        return Some(d);
    }
    let out = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let dir = std::fs::canonicalize(path).ok()?.parent()?.to_path_buf();
    has(&dir).then_some(dir)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    fn new() -> Option<Cluster> {
        let bin = server_bin()?;
        let as_postgres = is_root();
        // As root, somewhere the postgres user can enter whatever TMPDIR says (scripts/db.sh
        // does the same).
        let parent = if as_postgres {
            PathBuf::from("/var/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = parent.join(format!("frontline-outage-{}", Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("run")).ok()?;
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            let owned = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&cluster.dir)
                .status();
            assert!(owned.is_ok_and(|s| s.success()), "chown to postgres");
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/frontline", self.port)
    }

    /// One of the server programs, as the cluster's owner; panics with its output on failure.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        let out = command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("the PostgreSQL program runs");
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        // fsync off: an immediate stop kills the server, not the machine, so what it wrote
        // reaches the data files through the operating system all the same.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories='{}' -c fsync=off",
            self.port,
            self.dir.join("run").display()
        );
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    fn stop_immediately(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(path)
                .args(args)
                .output()
        } else {
            Command::new(path).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run the binary's CLI against `url`; panics with its output on failure.
fn frontline(url: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", url)
        .env("FRONTLINE_ADMIN_PASSWORD", crate::common::PASSWORD)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "frontline {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One write of the load: what it answered and how long it took.
struct Outcome {
    status: u16,
    retry_after: Option<String>,
    took: Duration,
    at: Duration,
    created: Option<Uuid>,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Writers log wins through one server process while PostgreSQL is stopped with `-m
/// immediate` and started again. Every win answered 201 is in the database afterwards; every
/// other answer is 503 with Retry-After; no request takes 10 s; writes succeed again within
/// 10 s of the restart, without restarting the API.
#[rocket::async_test]
async fn writes_survive_postgresql_stopped_immediately_and_started_again() {
    let Some(cluster) = Cluster::new() else {
        eprintln!(
            "SKIPPED: PostgreSQL's server programs (initdb, pg_ctl) are not installed; \
             scripts/test installs them when it runs as root"
        );
        return;
    };
    cluster.start();
    let url = cluster.url();
    frontline(&url, &["migrate"]);
    frontline(
        &url,
        &[
            "bootstrap",
            "--organisation",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            "admin@acme.example",
        ],
    );
    let server = Server::start_with(&url, &[("FRONTLINE_DB_POOL_SIZE", "8")]).await;
    let (status, login) = server
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "organisation": "acme", "email": "admin@acme.example", "password": crate::common::PASSWORD })),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"].as_str().unwrap().to_string();

    const WRITERS: usize = 4;
    const STOP_AT: Duration = Duration::from_secs(3);
    const DOWN_FOR: Duration = Duration::from_secs(3);
    const LOAD_FOR: Duration = Duration::from_secs(16);
    let began = Instant::now();
    let writer = |w: usize| {
        let token = token.clone();
        let port = server.port;
        async move {
            let mut outcomes = Vec::new();
            let mut n = 0;
            while began.elapsed() < LOAD_FOR {
                n += 1;
                let key = format!("w{w}-{n}");
                let body = json!({
                    "title": format!("Win {key}"),
                    "description": "Called the customer back the same day.",
                    "dimension": "empathy", "channel": "phone", "journey_stage": "after",
                    "customer_value": 4, "organisation_value": 3, "ease": 2
                });
                let sent = Instant::now();
                let reply = crate::servers::send_to(
                    port,
                    "POST",
                    "/api/v1/initiatives",
                    Some(&token),
                    Some(body),
                    &[("Idempotency-Key", &key)],
                )
                .await
                .expect("the API process answers throughout");
                outcomes.push(Outcome {
                    status: reply.status,
                    retry_after: reply.headers.get("retry-after").cloned(),
                    took: sent.elapsed(),
                    at: began.elapsed(),
                    created: reply.body["id"].as_str().and_then(|s| s.parse().ok()),
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            outcomes
        }
    };
    let outage = async {
        tokio::time::sleep(STOP_AT).await;
        cluster.stop_immediately();
        let stopped = began.elapsed();
        tokio::time::sleep(DOWN_FOR).await;
        cluster.start();
        (stopped, began.elapsed())
    };
    let (results, (stopped, restarted)) =
        tokio::join!(futures::future::join_all((0..WRITERS).map(writer)), outage);
    let outcomes: Vec<Outcome> = results.into_iter().flatten().collect();

    let mut created = Vec::new();
    let mut refused = 0;
    for o in &outcomes {
        assert!(
            o.took < Duration::from_secs(10),
            "a write took {:?}",
            o.took
        );
        match o.status {
            201 => created.extend(o.created),
            503 => {
                assert!(
                    o.retry_after.is_some(),
                    "503 without Retry-After at {:?}",
                    o.at
                );
                refused += 1;
            }
            other => panic!("a write answered {other} at {:?}", o.at),
        }
    }
    let ok_before = outcomes
        .iter()
        .filter(|o| o.status == 201 && o.at < stopped)
        .count();
    let recovered = outcomes
        .iter()
        .filter(|o| o.status == 201 && o.at > restarted)
        .map(|o| o.at - o.took)
        .min()
        .expect("writes succeed again after the restart");
    eprintln!(
        "{} writes: {} created, {refused} refused (503); stopped at {stopped:?}, started at \
         {restarted:?}, first success sent {:?} after the start",
        outcomes.len(),
        created.len(),
        recovered.saturating_sub(restarted)
    );
    assert!(ok_before > 0, "writes succeeded before the stop");
    assert!(refused > 0, "the stop was felt");
    assert!(
        recovered.saturating_sub(restarted) < Duration::from_secs(10),
        "recovered {:?} after the restart",
        recovered.saturating_sub(restarted)
    );
    // The last writes all succeed: the API recovered, not just one lucky request.
    let tail: Vec<_> = outcomes
        .iter()
        .filter(|o| o.at > LOAD_FOR - Duration::from_secs(2))
        .collect();
    assert!(!tail.is_empty() && tail.iter().all(|o| o.status == 201));

    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let found: Count =
        diesel::sql_query("SELECT count(*) AS n FROM initiatives WHERE id = ANY($1)")
            .bind::<Array<SqlUuid>, _>(&created)
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        found.n as usize,
        created.len(),
        "every 201 is in the database"
    );
    drop(server);
}
