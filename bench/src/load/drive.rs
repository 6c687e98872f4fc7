//! Simulated customers: each message is a signed WhatsApp or Telegram
//! webhook or a widget message, from one of N customers, carrying its send
//! time. Closed loop (C workers as fast as acknowledged: the sustainable
//! ingest rate) or open loop (a fixed rate, latency measured from the
//! intended send time so a stalled server cannot hide its backlog).

use crate::payload;
use crate::stats::Latencies;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where each kind of message goes (the switchboard's URLs, or the
/// baseline's, which accepts anything).
#[derive(Clone)]
pub struct Routes {
    pub whatsapp: String,
    pub telegram: String,
    pub widget_messages: String,
    /// Widget visitors' bearer tokens; empty = no widget share.
    pub visitors: Arc<Vec<String>>,
}

/// A word naming team `t` that is not part of any other team's word
/// ("q1q" is not inside "q11q").
pub fn team_keyword(t: u64) -> String {
    format!("q{t}q")
}

#[derive(Clone)]
pub struct Customers {
    pub routes: Routes,
    pub count: u64,
    /// One in `widget_every` messages comes from the widget (0 = none).
    pub widget_every: u64,
    pub epoch: Instant,
    /// > 0: each message names one of this many teams (see `team_keyword`).
    pub route_teams: u64,
    pub client: reqwest::Client,
    next_seq: Arc<AtomicU64>,
}

#[derive(Default)]
pub struct SendReport {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub ack: Latencies,
    pub elapsed: Duration,
    /// Open loop only: sends that started later than scheduled by > 1 ms
    /// (the tool itself could not keep up).
    pub late: u64,
}

impl SendReport {
    pub fn ack_summary(&self) -> crate::stats::Summary {
        self.ack.clone().summary()
    }
    pub fn rate(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn merge(&mut self, o: SendReport) {
        self.sent += o.sent;
        self.acked += o.acked;
        self.errors += o.errors;
        self.late += o.late;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.ack.extend(o.ack);
    }
}

impl Customers {
    pub fn new(routes: Routes, count: u64, widget_every: u64, epoch: Instant) -> Customers {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        Customers { routes, count: count.max(1), widget_every, epoch, route_teams: 0, client, next_seq: Arc::new(AtomicU64::new(1)) }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    pub fn sent_so_far(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed) - 1
    }

    /// Sends message `seq`, stamped as intended at `intended`; returns the
    /// acknowledgement latency.
    pub async fn send(&self, seq: u64, intended: Instant) -> Result<Duration, String> {
        let sent_us = intended.duration_since(self.epoch).as_micros() as u64;
        let mut text = payload::marker(seq, sent_us);
        if self.route_teams > 0 {
            text.push(' ');
            text.push_str(&team_keyword(seq % self.route_teams));
        }
        let customer = seq % self.count;
        let widget = self.widget_every > 0 && !self.routes.visitors.is_empty() && seq % self.widget_every == 0;
        let req = if widget {
            let visitor = &self.routes.visitors[(seq as usize) % self.routes.visitors.len()];
            let body = serde_json::json!({"content": text, "echo_id": format!("load-{seq}")});
            self.client.post(&self.routes.widget_messages).bearer_auth(visitor).json(&body)
        } else {
            let signed = if seq % 2 == 0 { payload::whatsapp(customer, seq, &text) } else { payload::telegram(customer, seq, &text) };
            let url = if seq % 2 == 0 { &self.routes.whatsapp } else { &self.routes.telegram };
            self.client
                .post(url)
                .header("content-type", "application/json")
                .header(signed.header.0, signed.header.1)
                .body(signed.body)
        };
        let resp = req.send().await.map_err(|e| format!("send: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(format!("{status}: {}", text.chars().take(200).collect::<String>()));
        }
        // Drain the body so the connection goes back to the pool.
        let _ = resp.bytes().await;
        Ok(intended.elapsed())
    }

    /// `workers` loops, each sending its next message once the previous one
    /// is acknowledged, for `duration`.
    pub async fn closed_loop(&self, workers: usize, duration: Duration) -> SendReport {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let me = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut r = SendReport::default();
                while Instant::now() < deadline {
                    let seq = me.next_seq();
                    r.sent += 1;
                    match me.send(seq, Instant::now()).await {
                        Ok(d) => {
                            r.acked += 1;
                            r.ack.push(d);
                        }
                        Err(e) => {
                            r.errors += 1;
                            r.first_error.get_or_insert(e);
                        }
                    }
                }
                r
            }));
        }
        let mut total = SendReport::default();
        for t in tasks {
            if let Ok(r) = t.await {
                total.merge(r);
            }
        }
        total.elapsed = started.elapsed();
        total
    }

    /// `rate` messages per second for `duration`, at most `max_in_flight`
    /// outstanding (beyond that the schedule slips and counts as late).
    pub async fn open_loop(&self, rate: f64, duration: Duration, max_in_flight: usize) -> SendReport {
        let started = Instant::now();
        let total_msgs = (rate * duration.as_secs_f64()).round() as u64;
        let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Result<Duration, String>>();
        let mut report = SendReport::default();
        for i in 0..total_msgs {
            let intended = started + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if intended > now {
                tokio::time::sleep_until(intended.into()).await;
            } else if now - intended > Duration::from_millis(1) {
                report.late += 1;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let me = self.clone();
            let tx = done_tx.clone();
            let seq = me.next_seq();
            report.sent += 1;
            tokio::spawn(async move {
                let outcome = me.send(seq, intended).await;
                drop(permit);
                let _ = tx.send(outcome);
            });
        }
        drop(done_tx);
        while let Some(outcome) = done_rx.recv().await {
            match outcome {
                Ok(d) => {
                    report.acked += 1;
                    report.ack.push(d);
                }
                Err(e) => {
                    report.errors += 1;
                    report.first_error.get_or_insert(e);
                }
            }
        }
        report.elapsed = started.elapsed();
        report
    }
}
