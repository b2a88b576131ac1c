//! Login throttling: repeated failures per account and per client address answer 429 with
//! `Retry-After`. Kept in memory: it protects one process from online guessing, and a
//! restart forgetting it costs an attacker nothing they could not get by waiting. Behind
//! several instances, each throttles on its own (documented in docs/architecture.md).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    window: Duration,
}

/// A key and the number of failures it may have within the window.
pub struct Budget<'a> {
    pub key: &'a str,
    pub max_failures: u32,
}

impl LoginLimiter {
    pub fn new(window: Duration) -> Self {
        LoginLimiter {
            failures: Mutex::new(HashMap::new()),
            window,
        }
    }

    /// `Err(seconds)` when any key has used its budget: how long until it has room again.
    pub fn check(&self, budgets: &[Budget<'_>]) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let mut wait = 0u64;
        for b in budgets {
            if let Some(times) = map.get_mut(b.key) {
                prune(times, now, self.window);
                if times.len() as u64 >= u64::from(b.max_failures.max(1))
                    && let Some(oldest) = times.front()
                {
                    let free_at = *oldest + self.window;
                    let secs = free_at.saturating_duration_since(now).as_secs().max(1);
                    wait = wait.max(secs);
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn record_failure(&self, keys: &[&str]) {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        for key in keys {
            let times = map.entry((*key).to_string()).or_default();
            prune(times, now, self.window);
            times.push_back(now);
        }
        // Bound memory under a spray of distinct keys.
        if map.len() > 100_000 {
            map.retain(|_, times| {
                prune(times, now, self.window);
                !times.is_empty()
            });
        }
    }

    pub fn clear(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_budget_and_clears() {
        let l = LoginLimiter::new(Duration::from_secs(60));
        let b = [Budget {
            key: "a",
            max_failures: 2,
        }];
        assert!(l.check(&b).is_ok());
        l.record_failure(&["a"]);
        assert!(l.check(&b).is_ok());
        l.record_failure(&["a"]);
        let wait = l.check(&b).unwrap_err();
        assert!((1..=60).contains(&wait));
        l.clear("a");
        assert!(l.check(&b).is_ok());
    }
}
