//! Latency samples, percentiles and the server process's CPU and memory.

use std::time::{Duration, Instant};

/// Microsecond latency samples; percentiles by sorting once at the end
/// (a run holds at most a few million samples).
#[derive(Default, Clone)]
pub struct Latencies {
    micros: Vec<u64>,
}

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.micros.push(d.as_micros() as u64);
    }
    pub fn extend(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }
    pub fn len(&self) -> usize {
        self.micros.len()
    }
    pub fn summary(mut self) -> Summary {
        self.micros.sort_unstable();
        let at = |q: f64| -> Duration {
            if self.micros.is_empty() {
                return Duration::ZERO;
            }
            let i = ((self.micros.len() as f64 - 1.0) * q).round() as usize;
            Duration::from_micros(self.micros[i.min(self.micros.len() - 1)])
        };
        Summary { count: self.micros.len(), p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1.0) }
    }
}

pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
            self.count,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// CPU time and resident memory of a process, from /proc (Linux).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcSample {
    pub cpu_secs: f64,
    pub rss_bytes: u64,
    pub at: Option<Instant>,
}

pub fn sample(pid: u32) -> ProcSample {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of them, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu_secs = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    ProcSample { cpu_secs, rss_bytes: rss_kb * 1024, at: Some(Instant::now()) }
}

/// Average CPU use (1.0 = one core busy) between two samples.
pub fn cpu_cores(from: ProcSample, to: ProcSample) -> f64 {
    match (from.at, to.at) {
        (Some(a), Some(b)) if b > a => (to.cpu_secs - from.cpu_secs) / (b - a).as_secs_f64(),
        _ => 0.0,
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.push(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(51));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
    }

    #[test]
    fn own_process_has_memory_and_cpu() {
        let s = sample(std::process::id());
        assert!(s.rss_bytes > 0);
        assert!(s.cpu_secs >= 0.0);
    }
}
