//! Prometheus counters, rendered by hand: a handful of atomics do not need
//! a metrics framework.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Metrics {
    /// (method, route template, status) → count.
    pub http_requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    pub http_request_ms_sum: AtomicU64,
    pub http_requests_total: AtomicU64,
    pub ws_agent_connections: AtomicI64,
    pub ws_visitor_connections: AtomicI64,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub events_published: AtomicU64,
    pub login_failures: AtomicU64,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed_ms: u64) {
        self.http_requests_total.fetch_add(1, Ordering::Relaxed);
        self.http_request_ms_sum.fetch_add(elapsed_ms, Ordering::Relaxed);
        if let Ok(mut m) = self.http_requests.lock() {
            *m.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        }
    }

    pub fn render(&self, backend: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP switchboard_info Build and storage backend.\n# TYPE switchboard_info gauge");
        let _ = writeln!(out, "switchboard_info{{version=\"{}\",store=\"{backend}\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(out, "# HELP switchboard_http_requests_total HTTP requests by route and status.\n# TYPE switchboard_http_requests_total counter");
        if let Ok(m) = self.http_requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(out, "switchboard_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}");
            }
        }
        let gauges: [(&str, &str, i64); 2] = [
            ("switchboard_ws_agent_connections", "Open agent WebSockets.", self.ws_agent_connections.load(Ordering::Relaxed)),
            ("switchboard_ws_visitor_connections", "Open widget WebSockets.", self.ws_visitor_connections.load(Ordering::Relaxed)),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters: [(&str, &str, u64); 5] = [
            ("switchboard_http_request_duration_ms_sum", "Total time spent serving requests.", self.http_request_ms_sum.load(Ordering::Relaxed)),
            ("switchboard_messages_received_total", "Customer messages stored.", self.messages_received.load(Ordering::Relaxed)),
            ("switchboard_messages_sent_total", "Agent messages and notes stored.", self.messages_sent.load(Ordering::Relaxed)),
            ("switchboard_events_published_total", "Events published to the bus.", self.events_published.load(Ordering::Relaxed)),
            ("switchboard_login_failures_total", "Refused logins.", self.login_failures.load(Ordering::Relaxed)),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record_request("GET", "/healthz", 200, 3);
        m.record_request("GET", "/healthz", 200, 1);
        let text = m.render("sqlite");
        assert!(text.contains("switchboard_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"));
        assert!(text.contains("switchboard_http_request_duration_ms_sum 4"));
        assert!(text.contains("store=\"sqlite\""));
    }
}
