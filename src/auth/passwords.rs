//! Password hashing: argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane).
//!
//! Hashing takes tens of milliseconds of CPU and 19 MiB by design, so it runs on threads of
//! its own, never on the async executor, and only as many at once as the [`Hasher`] has
//! permits (by default one per CPU but one, and at least one): a flood of logins queues for a
//! short wait and is then
//! answered `503` with `Retry-After`, instead of taking every core and a blocking thread with
//! 19 MiB each (512 threads: ~10 GiB). An unknown account is verified against a dummy hash so
//! that "no such email" and "wrong password" take the same time.

use std::sync::{Arc, LazyLock, Mutex, OnceLock, mpsc};
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, AppError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("frontline-timing-equaliser").unwrap_or_default())
}

/// Compute the dummy hash up front, so the first failed login is not faster than the rest.
pub fn warm_up() {
    let _ = dummy_hash();
}

/// The bound on concurrent hashing, as Rocket state: every password a request hashes or
/// verifies goes through it.
///
/// Hashing runs on threads of the hasher's own, as many as it has permits, not on Tokio's
/// blocking pool: each thread's allocator keeps the 19 MiB of its last hash for the next one,
/// so memory for hashing stays at permits x 19 MiB however many blocking threads a burst of
/// other work has started.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    wait: Duration,
    jobs: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// A right to hash one password; hashing releases it when it finishes.
pub struct HashPermit {
    _permit: OwnedSemaphorePermit,
}

impl Hasher {
    /// `permits` hashes at once (0: [`default_permits`]); a request waits at most `wait` for
    /// one.
    pub fn new(permits: usize, wait: Duration) -> Hasher {
        let permits = if permits == 0 {
            default_permits()
        } else {
            permits
        };
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..permits {
            let queue = Arc::clone(&queue);
            // The threads end when the last clone of the hasher (its sender) is dropped.
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Hasher {
            permits: Arc::new(Semaphore::new(permits)),
            wait,
            jobs,
        }
    }

    /// Wait (briefly) for a permit; `503` with `Retry-After` when none comes.
    pub async fn acquire(&self) -> Result<HashPermit, AppError> {
        match tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(HashPermit { _permit: permit }),
            _ => Err(AppError::Unavailable(
                "too many passwords are being checked right now; try again in a moment".into(),
            )),
        }
    }

    /// Run `work` on a hashing thread once a permit is free. The permit travels with the job:
    /// a request that goes away (a client that disconnects) does not free it while its hash is
    /// still computing.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = self.acquire().await?;
        self.run_with(permit, work).await
    }

    /// Run `work` on a hashing thread with a permit the caller already holds.
    async fn run_with<T: Send + 'static>(
        &self,
        permit: HashPermit,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _permit = permit;
                let _ = done.send(work());
            }))
            .map_err(|_| AppError::internal("the password hashing threads have stopped"))?;
        answer
            .await
            .map_err(|_| AppError::internal("a password hashing thread failed"))
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move || hash_now(&password)).await?
    }

    /// True when `password` matches `stored`. With no stored hash (unknown member, or an
    /// invited member who has not chosen a password yet) it burns the same time and answers
    /// false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        self.run(move || verify_now(&password, stored.as_deref()))
            .await
    }

    /// [`Hasher::verify`] with a permit taken earlier ([`Hasher::acquire`]): a login takes its
    /// permit before it touches the database, so a flood the hasher cannot serve is refused
    /// without a throttle round trip each.
    pub async fn verify_with(
        &self,
        permit: HashPermit,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, AppError> {
        self.run_with(permit, move || verify_now(&password, stored.as_deref()))
            .await
    }
}

/// One permit per CPU but one (at least one): however many logins flood in, one CPU is left
/// to every other request. Measured (`make bench`, the login flood, 2 CPUs): with a permit per
/// CPU the boards' p99 during the flood was 1.4-2.1x its p99 without; with one, 0.7-1.3x, and
/// the peak memory 240 MiB instead of 390. The price: half the logins per second on a 2-CPU
/// server while it is flooded (tens a second still, far above a shift's sign-ins).
pub fn default_permits() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// For the CLI and tests, outside any request: one permit per CPU, a patient wait.
fn outside_requests() -> &'static Hasher {
    static HASHER: LazyLock<Hasher> = LazyLock::new(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hasher::new(cpus, Duration::from_secs(600))
    });
    &HASHER
}

pub async fn hash(password: String) -> Result<String, AppError> {
    outside_requests().hash(password).await
}

pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    outside_requests().verify(password, stored).await
}

fn verify_now(password: &str, stored: Option<&str>) -> bool {
    let (phc, known) = match stored {
        Some(s) => (s, true),
        None => (dummy_hash(), false),
    };
    let parsed = match PasswordHash::new(phc) {
        Ok(p) => p,
        Err(_) => return false,
    };
    let ok = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    known && ok
}

/// Hashing threads run at the lowest scheduling priority: under a flood of logins (each a
/// hash) they take only what other requests leave of the CPU, so the service's other answers
/// keep their latency and the flood waits instead (measured: `make bench`, the login flood).
/// On Linux a nice value belongs to the thread, so this touches no other thread.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; who = 0 is the calling thread.
        let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
        if done != 0 {
            tracing::warn!("cannot lower the priority of a password hashing thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn a_hasher_without_a_free_permit_answers_unavailable() {
        let hasher = super::Hasher::new(1, Duration::from_millis(10));
        let held = hasher.acquire().await.unwrap();
        let e = hasher.verify("x".into(), None).await.unwrap_err();
        assert_eq!(e.status().code, 503);
        drop(held);
        assert!(!hasher.verify("x".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = super::hash("a long enough secret".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            super::verify("a long enough secret".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!super::verify("wrong".into(), Some(h)).await.unwrap());
        assert!(
            !super::verify("frontline-timing-equaliser".into(), None)
                .await
                .unwrap()
        );
    }
}
