//! A fixed-window-with-carry ("sliding window counter") rate limiter. Pure:
//! the caller passes the current time, so it is deterministic in tests.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max_events: u32,
    pub window_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: i64,
    current: u32,
    previous: u32,
}

/// Tracks events per key. Memory is bounded: keys idle for two windows are
/// dropped by `prune`, which `check` runs every `prune_every` calls.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: RateLimit,
    windows: HashMap<K, Window>,
    calls: u64,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter { limit, windows: HashMap::new(), calls: 0 }
    }

    /// Records one event for `key` at `now_ms`. `Err(retry_after_ms)` when
    /// over the limit; a refused event is not counted.
    pub fn check(&mut self, key: &K, now_ms: i64) -> Result<(), i64> {
        self.allowed(key, now_ms)?;
        self.record(key, now_ms);
        Ok(())
    }

    /// Whether one more event would be within the limit, without counting
    /// it (for limits that count only failures, like logins).
    pub fn allowed(&mut self, key: &K, now_ms: i64) -> Result<(), i64> {
        self.calls += 1;
        if self.calls.is_multiple_of(1024) {
            self.prune(now_ms);
        }
        let w = self.limit.window_ms.max(1);
        let entry = self.window(key, now_ms);
        // Weight the previous window by how much of it still overlaps.
        let elapsed = now_ms - entry.start_ms;
        let weight = (w - elapsed) as f64 / w as f64;
        let estimated = entry.previous as f64 * weight + entry.current as f64;
        if estimated + 1.0 > self.limit.max_events as f64 {
            return Err((w - elapsed).max(1));
        }
        Ok(())
    }

    pub fn record(&mut self, key: &K, now_ms: i64) {
        self.window(key, now_ms).current += 1;
    }

    /// The key's window rolled forward to `now_ms`.
    fn window(&mut self, key: &K, now_ms: i64) -> &mut Window {
        let w = self.limit.window_ms.max(1);
        let aligned = now_ms - now_ms.rem_euclid(w);
        let entry = self
            .windows
            .entry(key.clone())
            .or_insert(Window { start_ms: aligned, current: 0, previous: 0 });
        if aligned != entry.start_ms {
            let previous = if aligned - entry.start_ms == w { entry.current } else { 0 };
            *entry = Window { start_ms: aligned, current: 0, previous };
        }
        entry
    }

    pub fn prune(&mut self, now_ms: i64) {
        let horizon = 2 * self.limit.window_ms.max(1);
        self.windows.retain(|_, win| now_ms - win.start_ms < horizon);
    }

    pub fn tracked_keys(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_up_to_the_limit_then_refuses() {
        let mut rl = RateLimiter::new(RateLimit { max_events: 3, window_ms: 60_000 });
        let k = "1.2.3.4".to_string();
        assert!(rl.check(&k, 0).is_ok());
        assert!(rl.check(&k, 1).is_ok());
        assert!(rl.check(&k, 2).is_ok());
        let retry = rl.check(&k, 3).unwrap_err();
        assert!(retry > 0 && retry <= 60_000);
        // another key is independent
        assert!(rl.check(&"5.6.7.8".to_string(), 3).is_ok());
    }

    #[test]
    fn recovers_after_the_windows_pass() {
        let mut rl = RateLimiter::new(RateLimit { max_events: 2, window_ms: 1000 });
        let k = 1u32;
        assert!(rl.check(&k, 0).is_ok());
        assert!(rl.check(&k, 0).is_ok());
        assert!(rl.check(&k, 500).is_err());
        assert!(rl.check(&k, 2500).is_ok());
    }

    #[test]
    fn allowed_does_not_count_until_recorded() {
        let mut rl = RateLimiter::new(RateLimit { max_events: 1, window_ms: 1000 });
        let k = 7u32;
        assert!(rl.allowed(&k, 0).is_ok());
        assert!(rl.allowed(&k, 0).is_ok());
        rl.record(&k, 0);
        assert!(rl.allowed(&k, 1).is_err());
    }

    #[test]
    fn prune_forgets_idle_keys() {
        let mut rl = RateLimiter::new(RateLimit { max_events: 2, window_ms: 1000 });
        rl.check(&1u32, 0).ok();
        rl.check(&2u32, 5000).ok();
        rl.prune(5000);
        assert_eq!(rl.tracked_keys(), 1);
    }
}
