//! The four transaction state machines of RFC 3261 §17 (with the RFC 6026
//! "Accepted" state for INVITE 2xx), owned by a [`TransactionLayer`].
//!
//! Sans-IO: the caller feeds received messages, TU actions and `now`, then
//! drains [`TransactionLayer::poll_output`] and sleeps until
//! [`TransactionLayer::next_wakeup`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::header::Via;
use super::message::{Message, Method, Request, Response, SipMessage};

/// RFC 3261 §17.1.1.1 magic cookie: branches starting with it are unique.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// Transport protocols. Timers that only absorb retransmissions are zero
/// on reliable ones (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl Transport {
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
}

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// T1, T2 and T4 of RFC 3261 §17.1.1.1 / table 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    /// Send 100 Trying as soon as an INVITE arrives. §17.2.1 asks for it
    /// within 200 ms unless the TU answers sooner; doing it at once costs one
    /// datagram and stops the client's Timer A retransmissions early.
    pub auto_100_trying: bool,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            auto_100_trying: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

/// Identifies a transaction (§17.1.3, §17.2.3). ACK is keyed as INVITE so
/// that it finds the INVITE server transaction; CANCEL has its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    pub role: Role,
    pub branch: String,
    /// Via sent-by for server transactions; empty for client ones, whose
    /// branch we generated and is unique on its own.
    pub sent_by: String,
    pub method: Method,
}

impl TransactionKey {
    /// The server key of a received request. RFC 2543 peers without the
    /// magic cookie are keyed by Call-ID, CSeq number and From tag instead.
    pub fn for_request(request: &Request) -> Option<TransactionKey> {
        let via = request.top_via().ok()?;
        let method = match &request.method {
            Method::Ack => Method::Invite,
            m => m.clone(),
        };
        let branch = match via.branch() {
            Some(b) if b.starts_with(BRANCH_MAGIC_COOKIE) => b.to_owned(),
            _ => {
                let from_tag = request.from().ok()?.tag().unwrap_or_default().to_owned();
                format!(
                    "rfc2543:{}:{}:{}",
                    request.call_id().ok()?,
                    request.cseq().ok()?.seq,
                    from_tag
                )
            }
        };
        Some(TransactionKey {
            role: Role::Server,
            branch,
            sent_by: via.sent_by().to_ascii_lowercase(),
            method,
        })
    }

    /// The client key a received response belongs to.
    pub fn for_response(response: &Response) -> Option<TransactionKey> {
        let via = response.top_via().ok()?;
        let method = response.cseq().ok()?.method;
        let method = if method == Method::Ack {
            Method::Invite
        } else {
            method
        };
        Some(TransactionKey {
            role: Role::Client,
            branch: via.branch()?.to_owned(),
            sent_by: String::new(),
            method,
        })
    }

    /// The key of the INVITE server transaction a CANCEL targets (§9.2).
    pub fn cancelled_invite(&self) -> TransactionKey {
        TransactionKey {
            method: Method::Invite,
            ..self.clone()
        }
    }
}

/// What the layer asks the caller to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Put this message on the wire.
    Send { to: Peer, message: Message },
    /// A new request for the TU. `key` is `None` for an ACK to a 2xx, which
    /// belongs to the dialog, not to a transaction.
    Request {
        key: Option<TransactionKey>,
        request: Request,
        from: Peer,
    },
    /// A response for the TU. `key` is `None` for a 2xx to INVITE that
    /// arrived after its transaction ended (the TU must still ACK it).
    Response {
        key: Option<TransactionKey>,
        response: Response,
    },
    /// Timer B, F or H fired, or L/M for a 2xx that got no ACK: the peer
    /// is unreachable. The TU treats it as a 408 (§8.1.3.1).
    Timeout { key: TransactionKey },
    /// The transaction is gone; its key may be forgotten.
    Terminated { key: TransactionKey },
}

/// Misuse of the layer by the TU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("the request has no usable top Via branch")]
    MissingBranch,
    #[error("a transaction with this key already exists")]
    Duplicate,
    #[error("no server transaction with this key")]
    UnknownTransaction,
    #[error("ACK is not sent through a client transaction")]
    AckHasNoTransaction,
    #[error("the transaction already sent a final response")]
    AlreadyFinal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

#[derive(Debug)]
struct Transaction {
    kind: Kind,
    state: State,
    peer: Peer,
    request: Request,
    /// Client: the ACK for a non-2xx final. Server: the last response sent.
    last_sent: Option<Message>,
    retransmit_at: Option<Instant>,
    retransmit_interval: Duration,
    /// Timer B, F, H, L or M.
    timeout_at: Option<Instant>,
    /// Timer D, K, I or J.
    end_at: Option<Instant>,
}

impl Transaction {
    fn wakeup(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn unreliable(&self) -> bool {
        !self.peer.transport.is_reliable()
    }
}

/// All transactions of one SIP endpoint.
#[derive(Debug, Default)]
pub struct TransactionLayer {
    config: TimerConfig,
    transactions: HashMap<TransactionKey, Transaction>,
    /// INVITE server transactions in Accepted, by (Call-ID, CSeq), so the
    /// ACK for the 2xx (a separate transaction) can stop its retransmission.
    accepted: HashMap<(String, u32), TransactionKey>,
    outputs: VecDeque<Output>,
}

impl TransactionLayer {
    pub fn new(config: TimerConfig) -> TransactionLayer {
        TransactionLayer {
            config,
            ..TransactionLayer::default()
        }
    }

    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    pub fn state(&self, key: &TransactionKey) -> Option<State> {
        self.transactions.get(key).map(|t| t.state)
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`on_timer`](Self::on_timer) must next be called. The scan is
    /// linear; fine for thousands of transactions.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.transactions
            .values()
            .filter_map(Transaction::wakeup)
            .min()
    }

    /// Starts a client transaction for `request`, whose top Via must carry
    /// a fresh `z9hG4bK` branch, and sends it.
    pub fn send_request(
        &mut self,
        request: Request,
        to: Peer,
        now: Instant,
    ) -> Result<TransactionKey, TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::AckHasNoTransaction);
        }
        let branch = request
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned))
            .filter(|b| b.starts_with(BRANCH_MAGIC_COOKIE))
            .ok_or(TransactionError::MissingBranch)?;
        let key = TransactionKey {
            role: Role::Client,
            branch,
            sent_by: String::new(),
            method: request.method.clone(),
        };
        if self.transactions.contains_key(&key) {
            return Err(TransactionError::Duplicate);
        }
        let t1 = self.config.t1;
        let (kind, state) = if request.method == Method::Invite {
            (Kind::InviteClient, State::Calling)
        } else {
            (Kind::NonInviteClient, State::Trying)
        };
        let unreliable = !to.transport.is_reliable();
        self.outputs.push_back(Output::Send {
            to,
            message: Message::Request(request.clone()),
        });
        self.transactions.insert(
            key.clone(),
            Transaction {
                kind,
                state,
                peer: to,
                request,
                last_sent: None,
                retransmit_at: unreliable.then(|| now + t1),
                retransmit_interval: t1,
                timeout_at: Some(now + 64 * t1),
                end_at: None,
            },
        );
        Ok(key)
    }

    /// Sends the TU's response through the server transaction `key`.
    pub fn send_response(
        &mut self,
        key: &TransactionKey,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let config = self.config;
        let t = self
            .transactions
            .get_mut(key)
            .ok_or(TransactionError::UnknownTransaction)?;
        if !matches!(t.state, State::Trying | State::Proceeding) {
            return Err(TransactionError::AlreadyFinal);
        }
        let status = response.status;
        let message = Message::Response(response);
        self.outputs.push_back(Output::Send {
            to: t.peer,
            message: message.clone(),
        });
        t.last_sent = Some(message);
        let unreliable = t.unreliable();
        match (t.kind, status) {
            (_, 100..=199) => t.state = State::Proceeding,
            (Kind::InviteServer, 200..=299) => {
                // RFC 6026: keep the transaction to absorb INVITE
                // retransmissions; the 2xx itself is retransmitted (§13.3.1.4)
                // until its ACK, on Timer G's schedule.
                t.state = State::Accepted;
                t.retransmit_at = unreliable.then(|| now + config.t1);
                t.retransmit_interval = config.t1;
                t.timeout_at = Some(now + 64 * config.t1);
                if let (Ok(call_id), Ok(cseq)) = (t.request.call_id(), t.request.cseq()) {
                    self.accepted
                        .insert((call_id.to_owned(), cseq.seq), key.clone());
                }
            }
            (Kind::InviteServer, _) => {
                t.state = State::Completed;
                t.retransmit_at = unreliable.then(|| now + config.t1);
                t.retransmit_interval = config.t1;
                t.timeout_at = Some(now + 64 * config.t1);
            }
            _ => {
                t.state = State::Completed;
                t.end_at = Some(
                    now + if unreliable {
                        64 * config.t1
                    } else {
                        Duration::ZERO
                    },
                );
            }
        }
        self.reap(key, now);
        Ok(())
    }

    /// Feeds a message read from the network.
    pub fn on_message(&mut self, message: Message, from: Peer, now: Instant) {
        match message {
            Message::Request(request) => self.on_request(request, from, now),
            Message::Response(response) => self.on_response(response, now),
        }
    }

    fn on_request(&mut self, mut request: Request, from: Peer, now: Instant) {
        stamp_received(&mut request, from);
        let Some(key) = TransactionKey::for_request(&request) else {
            // Without Via/CSeq no response can be routed back; drop (§18.2.1).
            return;
        };
        let config = self.config;
        if let Some(t) = self.transactions.get_mut(&key) {
            let is_ack = request.method == Method::Ack;
            match (t.kind, t.state, is_ack) {
                (Kind::InviteServer, State::Completed, true) => {
                    t.state = State::Confirmed;
                    t.retransmit_at = None;
                    t.timeout_at = None;
                    t.end_at = Some(
                        now + if t.unreliable() {
                            config.t4
                        } else {
                            Duration::ZERO
                        },
                    );
                    self.reap(&key, now);
                }
                (_, State::Proceeding | State::Completed, false) => {
                    // A retransmitted request: repeat our last response.
                    if let Some(last) = &t.last_sent {
                        self.outputs.push_back(Output::Send {
                            to: t.peer,
                            message: last.clone(),
                        });
                    }
                }
                // Retransmissions in Trying/Accepted/Confirmed are absorbed;
                // an ACK in Accepted (same branch, unusual) counts as the 2xx ACK.
                (Kind::InviteServer, State::Accepted, true) => self.ack_for_2xx(request, from, now),
                _ => {}
            }
            return;
        }
        match request.method {
            Method::Ack => self.ack_for_2xx(request, from, now),
            _ => {
                let (kind, state) = if request.method == Method::Invite {
                    (Kind::InviteServer, State::Proceeding)
                } else {
                    (Kind::NonInviteServer, State::Trying)
                };
                let mut last_sent = None;
                if kind == Kind::InviteServer && config.auto_100_trying {
                    let trying =
                        Message::Response(Response::for_request(&request, 100, "Trying", None));
                    self.outputs.push_back(Output::Send {
                        to: from,
                        message: trying.clone(),
                    });
                    last_sent = Some(trying);
                }
                self.outputs.push_back(Output::Request {
                    key: Some(key.clone()),
                    request: request.clone(),
                    from,
                });
                self.transactions.insert(
                    key,
                    Transaction {
                        kind,
                        state,
                        peer: from,
                        request,
                        last_sent,
                        retransmit_at: None,
                        retransmit_interval: config.t1,
                        timeout_at: None,
                        end_at: None,
                    },
                );
            }
        }
    }

    fn ack_for_2xx(&mut self, request: Request, from: Peer, now: Instant) {
        if let (Ok(call_id), Ok(cseq)) = (request.call_id(), request.cseq())
            && let Some(key) = self.accepted.remove(&(call_id.to_owned(), cseq.seq))
            && let Some(t) = self.transactions.get_mut(&key)
        {
            // Stay until Timer L to absorb INVITE retransmissions.
            t.retransmit_at = None;
            t.end_at = t.timeout_at.take();
            self.reap(&key, now);
        }
        self.outputs.push_back(Output::Request {
            key: None,
            request,
            from,
        });
    }

    fn on_response(&mut self, response: Response, now: Instant) {
        let Some(key) = TransactionKey::for_response(&response) else {
            return;
        };
        let config = self.config;
        let Some(t) = self.transactions.get_mut(&key) else {
            // §17.1.1.2 / RFC 6026: a late 2xx to INVITE still goes to the TU
            // so that it can ACK; other strays are dropped (§18.1.2).
            if key.method == Method::Invite && response.is_success() {
                self.outputs.push_back(Output::Response {
                    key: None,
                    response,
                });
            }
            return;
        };
        let unreliable = t.unreliable();
        let status = response.status;
        match (t.kind, t.state) {
            (Kind::InviteClient, State::Calling | State::Proceeding) => {
                if status < 200 {
                    t.state = State::Proceeding;
                    t.retransmit_at = None;
                    t.timeout_at = None;
                } else if status < 300 {
                    t.state = State::Accepted;
                    t.retransmit_at = None;
                    t.timeout_at = None;
                    t.end_at = Some(now + 64 * config.t1);
                } else {
                    let ack = Message::Request(ack_for_non_2xx(&t.request, &response));
                    self.outputs.push_back(Output::Send {
                        to: t.peer,
                        message: ack.clone(),
                    });
                    t.last_sent = Some(ack);
                    t.state = State::Completed;
                    t.retransmit_at = None;
                    t.timeout_at = None;
                    t.end_at = Some(
                        now + if unreliable {
                            Duration::from_secs(32)
                        } else {
                            Duration::ZERO
                        },
                    );
                }
                self.outputs.push_back(Output::Response {
                    key: Some(key.clone()),
                    response,
                });
            }
            // Retransmitted 2xx: the TU re-sends its ACK (RFC 6026 §8.4).
            (Kind::InviteClient, State::Accepted) if (200..300).contains(&status) => {
                self.outputs.push_back(Output::Response {
                    key: Some(key.clone()),
                    response,
                });
            }
            (Kind::InviteClient, State::Completed) if status >= 300 => {
                if let Some(ack) = &t.last_sent {
                    self.outputs.push_back(Output::Send {
                        to: t.peer,
                        message: ack.clone(),
                    });
                }
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding) => {
                if status < 200 {
                    t.state = State::Proceeding;
                } else {
                    t.state = State::Completed;
                    t.retransmit_at = None;
                    t.timeout_at = None;
                    t.end_at = Some(
                        now + if unreliable {
                            config.t4
                        } else {
                            Duration::ZERO
                        },
                    );
                }
                self.outputs.push_back(Output::Response {
                    key: Some(key.clone()),
                    response,
                });
            }
            _ => {}
        }
        self.reap(&key, now);
    }

    /// Fires every timer due at `now`.
    pub fn on_timer(&mut self, now: Instant) {
        let due: Vec<TransactionKey> = self
            .transactions
            .iter()
            .filter(|(_, t)| t.wakeup().is_some_and(|w| w <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.fire(&key, now);
        }
    }

    fn fire(&mut self, key: &TransactionKey, now: Instant) {
        let config = self.config;
        let Some(t) = self.transactions.get_mut(key) else {
            return;
        };
        if t.timeout_at.is_some_and(|at| at <= now) {
            // Timer L in Accepted with no ACK, or B/F/H: the peer is gone.
            self.outputs.push_back(Output::Timeout { key: key.clone() });
            t.state = State::Terminated;
        } else if t.retransmit_at.is_some_and(|at| at <= now) {
            let message = match t.kind {
                Kind::InviteClient | Kind::NonInviteClient => {
                    Some(Message::Request(t.request.clone()))
                }
                Kind::InviteServer | Kind::NonInviteServer => t.last_sent.clone(),
            };
            if let Some(message) = message {
                self.outputs.push_back(Output::Send {
                    to: t.peer,
                    message,
                });
            }
            // Timer A doubles without bound; E (in Trying) and G cap at T2;
            // E in Proceeding is T2 (§17.1.2.2).
            t.retransmit_interval = match (t.kind, t.state) {
                (Kind::InviteClient, _) => t.retransmit_interval * 2,
                (Kind::NonInviteClient, State::Proceeding) => config.t2,
                _ => (t.retransmit_interval * 2).min(config.t2),
            };
            t.retransmit_at = Some(now + t.retransmit_interval);
        }
        self.reap(key, now);
    }

    /// Removes the transaction if it reached Terminated or its end timer is due.
    fn reap(&mut self, key: &TransactionKey, now: Instant) {
        let done = self
            .transactions
            .get(key)
            .is_some_and(|t| t.state == State::Terminated || t.end_at.is_some_and(|at| at <= now));
        if done {
            if let Some(t) = self.transactions.remove(key)
                && let (Ok(call_id), Ok(cseq)) = (t.request.call_id(), t.request.cseq())
            {
                let slot = (call_id.to_owned(), cseq.seq);
                if self.accepted.get(&slot) == Some(key) {
                    self.accepted.remove(&slot);
                }
            }
            self.outputs
                .push_back(Output::Terminated { key: key.clone() });
        }
    }
}

/// §18.2.1 and RFC 3581: record the source address in the top Via so the
/// response goes back where the request really came from (NAT).
fn stamp_received(request: &mut Request, from: Peer) {
    let Some(first) = request
        .headers
        .0
        .iter_mut()
        .find(|h| h.name.eq_ignore_ascii_case("Via"))
    else {
        return;
    };
    let Ok(mut via) = Via::parse(&first.value) else {
        return;
    };
    let ip = from.addr.ip().to_string();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let mut changed = false;
    if host != ip {
        via.set_param("received", Some(ip));
        changed = true;
    }
    if via.rport() == Some(None) {
        via.set_param("rport", Some(from.addr.port().to_string()));
        changed = true;
    }
    if changed {
        first.value = via.to_string();
    }
}

/// Where a response to `request` goes when no connection is reused
/// (§18.2.2, RFC 3581): received/rport when present, else the Via sent-by.
pub fn response_destination(request: &Request, source: Peer) -> Peer {
    if source.transport.is_reliable() {
        return source;
    }
    let Ok(via) = request.top_via() else {
        return source;
    };
    let ip = via
        .received()
        .and_then(|r| r.parse().ok())
        .unwrap_or(source.addr.ip());
    let port = match via.rport() {
        Some(Some(p)) => p,
        Some(None) => source.addr.port(),
        None => via.port.unwrap_or(5060),
    };
    Peer {
        addr: SocketAddr::new(ip, port),
        transport: source.transport,
    }
}

/// The ACK a client transaction sends for a 300-699 (§17.1.1.3).
fn ack_for_non_2xx(invite: &Request, response: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(via) = invite.headers.get("Via") {
        ack.headers.push("Via", via);
    }
    for route in invite.headers.get_all("Route") {
        ack.headers.push("Route", route);
    }
    for name in ["Max-Forwards", "From"] {
        if let Some(v) = invite.headers.get(name) {
            ack.headers.push(name, v);
        }
    }
    if let Some(to) = response.headers.get("To") {
        ack.headers.push("To", to);
    }
    if let Some(call_id) = invite.headers.get("Call-ID") {
        ack.headers.push("Call-ID", call_id);
    }
    if let Ok(cseq) = invite.cseq() {
        ack.headers.push("CSeq", format!("{} ACK", cseq.seq));
    }
    ack
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
