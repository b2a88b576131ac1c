//! The real peers some tests talk to, run on loopback from `tests/receivers/` with the python
//! that has their packages (scripts/test installs them into `.local/venv` and names it in
//! `FRONTLINE_TEST_PYTHON`; then it must work): the webhook receiver (`standardwebhooks`), the
//! OpenID provider (`oidc-provider-mock`), the SMTP server (`aiosmtpd`). Run on its own without
//! that python, a test that needs one says SKIPPED; in CI it fails.

use std::io::{BufRead, BufReader, Lines};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A peer's process; killed when dropped.
pub struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The python that can `import {imports}`, or none (SKIPPED) when run outside scripts/test
/// and CI.
fn python_with(imports: &str) -> Option<PathBuf> {
    let named = std::env::var_os("FRONTLINE_TEST_PYTHON").map(PathBuf::from);
    let python = named.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/python")
    });
    let usable = Command::new(&python)
        .args(["-c", &format!("import {imports}")])
        .output()
        .is_ok_and(|o| o.status.success());
    match (usable, named, std::env::var_os("CI")) {
        (true, _, _) => Some(python),
        (false, Some(named), _) => panic!("{named:?} cannot import {imports}"),
        (false, None, Some(_)) => panic!("CI: no python with {imports} ({python:?})"),
        (false, None, None) => {
            eprintln!(
                "WARNING: SKIPPED: no python with {imports} ({python:?}); scripts/test installs it"
            );
            None
        }
    }
}

/// Start `tests/receivers/{script}` with `args` (its python must `import {imports}`): the
/// process, the first line it prints (where it listens) and the rest of its output.
pub async fn start(
    imports: &str,
    script: &str,
    args: &[String],
) -> Option<(Peer, String, Lines<BufReader<ChildStdout>>)> {
    let python = python_with(imports)?;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/receivers")
        .join(script);
    let mut child = Command::new(python)
        .arg(path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{script} starts: {e}"));
    let stdout = child.stdout.take().expect("its stdout");
    let peer = Peer(child);
    let (first, rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok);
        (first, lines)
    })
    .await
    .expect("the reader");
    let first = first.unwrap_or_else(|| panic!("{script} says where it listens"));
    Some((peer, first, rest))
}
