//! The SIP transport shell and the signaling loop: one UDP socket and a TCP
//! listener feed one `TransactionLayer`, owned by one task, which also
//! fires its timers and carries out what call tasks ask for. REGISTER,
//! OPTIONS and out-of-dialog strays are answered here; INVITEs start call
//! tasks (see `call.rs`).

use super::{CallEvent, Cmd, Pbx};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_voice::sip::{
    DigestAuthenticator, DigestCredentials, DigestError, Message, Method, Output, Peer, Request, Response, SipMessage,
    TimerConfig, TransactionKey, TransactionLayer, Transport, leading_crlf_len, parse_datagram, parse_stream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Nonces are valid this long (a phone re-registers well within it).
const NONCE_LIFETIME_SECS: u64 = 300;
/// TCP connections idle this long are closed (phones keep theirs alive by
/// re-registering or with CRLF keep-alives).
const TCP_IDLE: Duration = Duration::from_secs(3600);

pub(super) struct Sockets {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
}

/// Binds UDP and TCP on the same port (for port 0: UDP picks, TCP follows;
/// if that port is taken on TCP, any free one).
pub(super) async fn bind(addr: SocketAddr) -> std::io::Result<Sockets> {
    let udp = UdpSocket::bind(addr).await?;
    let udp_addr = udp.local_addr()?;
    let tcp = match TcpListener::bind(udp_addr).await {
        Ok(l) => l,
        Err(_) if addr.port() == 0 => TcpListener::bind(addr).await?,
        Err(e) => return Err(e),
    };
    let tcp_addr = tcp.local_addr()?;
    Ok(Sockets { udp: Arc::new(udp), tcp, udp_addr, tcp_addr })
}

/// What the sockets hand to the loop.
enum Net {
    Message(Message, Peer),
}

type Connections = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;

pub(super) fn spawn(pbx: Arc<Pbx>, sockets: Sockets, cmd_rx: mpsc::UnboundedReceiver<Cmd>) {
    let (net_tx, net_rx) = mpsc::channel::<Net>(4096);
    let conns: Connections = Arc::new(Mutex::new(HashMap::new()));
    tokio::spawn(udp_reader(pbx.clone(), sockets.udp.clone(), net_tx.clone()));
    tokio::spawn(tcp_acceptor(pbx.clone(), sockets.tcp, net_tx.clone(), conns.clone()));
    let signaling = Signaling {
        pbx,
        net_tx,
        layer: TransactionLayer::new(TimerConfig::default()),
        udp: sockets.udp,
        conns,
        calls: HashMap::new(),
        client_keys: HashMap::new(),
    };
    tokio::spawn(signaling.run(net_rx, cmd_rx));
}

async fn udp_reader(pbx: Arc<Pbx>, sock: Arc<UdpSocket>, tx: mpsc::Sender<Net>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP port unreachable of an earlier send shows up here on some
            // systems; the socket itself is fine.
            Err(e) => {
                tracing::debug!(error = %e, "sip udp recv");
                continue;
            }
        };
        let data = buf.get(..n).unwrap_or_default();
        if leading_crlf_len(data) == data.len() {
            // RFC 5626 keep-alive (CRLFCRLF): answer with CRLF.
            if data.len() >= 4 {
                let _ = sock.send_to(b"\r\n", from).await;
            }
            continue;
        }
        let peer = Peer { addr: from, transport: Transport::Udp };
        match parse_datagram(data) {
            Ok(msg) => {
                if tx.send(Net::Message(msg, peer)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                pbx.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, error = %e, "malformed SIP datagram");
                if let Some(resp) = bad_request(data) {
                    let _ = sock.send_to(&resp, from).await;
                }
            }
        }
    }
}

async fn tcp_acceptor(pbx: Arc<Pbx>, listener: TcpListener, tx: mpsc::Sender<Net>, conns: Connections) {
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(tcp_connection(pbx.clone(), stream, from, tx.clone(), conns.clone()));
    }
}

async fn tcp_connection(pbx: Arc<Pbx>, stream: TcpStream, from: SocketAddr, tx: mpsc::Sender<Net>, conns: Connections) {
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    if let Ok(mut c) = conns.lock() {
        c.insert(from, out_tx.clone());
    }
    tcp_stream(pbx, stream, from, tx, conns, out_tx, out_rx).await;
}

/// How long connecting to a trunk over TCP may take.
const TCP_CONNECT: Duration = Duration::from_secs(5);

/// An outbound TCP connection (to a trunk), opened on the first message to
/// `to`. Its sender is already in `conns`, so messages sent while it
/// connects queue up. On failure the queued messages are lost (transaction
/// timers report it) and the entry is removed.
async fn tcp_dial(
    pbx: Arc<Pbx>,
    to: SocketAddr,
    tx: mpsc::Sender<Net>,
    conns: Connections,
    out_tx: mpsc::UnboundedSender<Vec<u8>>,
    out_rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    match tokio::time::timeout(TCP_CONNECT, TcpStream::connect(to)).await {
        Ok(Ok(stream)) => {
            tracing::debug!(%to, "sip tcp connected");
            tcp_stream(pbx, stream, to, tx, conns, out_tx, out_rx).await;
        }
        Ok(Err(e)) => {
            tracing::warn!(%to, error = %e, "sip tcp connect failed");
            remove_conn(&conns, to, &out_tx);
        }
        Err(_) => {
            tracing::warn!(%to, "sip tcp connect timed out");
            remove_conn(&conns, to, &out_tx);
        }
    }
}

/// Removes `addr`'s connection if it is still `ours` (a newer connection
/// from the same address may have replaced it).
fn remove_conn(conns: &Connections, addr: SocketAddr, ours: &mpsc::UnboundedSender<Vec<u8>>) {
    if let Ok(mut c) = conns.lock()
        && c.get(&addr).is_some_and(|tx| tx.same_channel(ours))
    {
        c.remove(&addr);
    }
}

/// Reads and frames one TCP connection (accepted or dialled) until it
/// closes; `out_rx` carries what to write to it.
async fn tcp_stream(
    pbx: Arc<Pbx>,
    stream: TcpStream,
    from: SocketAddr,
    tx: mpsc::Sender<Net>,
    conns: Connections,
    out_tx: mpsc::UnboundedSender<Vec<u8>>,
    mut out_rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let peer = Peer { addr: from, transport: Transport::Tcp };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16_384];
    'conn: loop {
        let n = match tokio::time::timeout(TCP_IDLE, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        loop {
            let crlf = leading_crlf_len(&buf);
            if crlf == buf.len() {
                if crlf >= 4 {
                    let _ = out_tx.send(b"\r\n".to_vec());
                }
                buf.clear();
                break;
            }
            match parse_stream(&buf) {
                Ok(Some((msg, used))) => {
                    buf.drain(..used.min(buf.len()));
                    if tx.send(Net::Message(msg, peer)).await.is_err() {
                        break 'conn;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // A stream cannot be resynchronised after a framing
                    // error: answer if we can and close.
                    pbx.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%from, error = %e, "malformed SIP on TCP");
                    if let Some(resp) = bad_request(&buf) {
                        let _ = out_tx.send(resp);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    break 'conn;
                }
            }
        }
    }
    remove_conn(&conns, from, &out_tx);
    drop(out_tx);
    let _ = writer.await;
}

/// A 400 for a message whose request line and Via are readable but whose
/// rest is not (RFC 3261 §8.2, §21.4.1); `None` means drop it silently
/// (responses, ACKs, garbage: there is nobody to answer).
pub(crate) fn bad_request(data: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data.get(..data.len().min(8192))?).ok().or_else(|| {
        // Cut at the last valid UTF-8 boundary of the head.
        let valid = match std::str::from_utf8(data) {
            Ok(_) => data.len(),
            Err(e) => e.valid_up_to(),
        };
        std::str::from_utf8(data.get(..valid)?).ok()
    })?;
    let text = text.trim_start_matches(['\r', '\n']);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let first = lines.next()?;
    let mut parts = first.split(' ');
    let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
    if version != "SIP/2.0" || !method.bytes().all(|b| b.is_ascii_uppercase()) || method == "ACK" || !uri.contains(':') {
        return None;
    }
    let mut copied = Vec::new();
    let mut has_via = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim();
        let canonical = match name.to_ascii_lowercase().as_str() {
            "via" | "v" => "Via",
            "from" | "f" => "From",
            "to" | "t" => "To",
            "call-id" | "i" => "Call-ID",
            "cseq" => "CSeq",
            _ => continue,
        };
        has_via |= canonical == "Via";
        copied.push(format!("{canonical}: {}\r\n", value.trim()));
    }
    if !has_via {
        return None;
    }
    let mut out = String::from("SIP/2.0 400 Bad Request\r\n");
    for c in copied {
        out.push_str(&c);
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

struct Signaling {
    pbx: Arc<Pbx>,
    layer: TransactionLayer,
    udp: Arc<UdpSocket>,
    conns: Connections,
    /// For connections this task opens (TCP trunks).
    net_tx: mpsc::Sender<Net>,
    /// Call-ID → the task that owns it.
    calls: HashMap<String, mpsc::UnboundedSender<CallEvent>>,
    /// Our client transactions → their Call-ID, to route timeouts.
    client_keys: HashMap<TransactionKey, String>,
}

impl Signaling {
    async fn run(mut self, mut net: mpsc::Receiver<Net>, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            let wake = self.layer.next_wakeup().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                m = net.recv() => match m {
                    Some(Net::Message(msg, peer)) => self.layer.on_message(msg, peer, Instant::now()),
                    None => return,
                },
                c = cmds.recv() => match c {
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                _ = tokio::time::sleep_until(wake.into()) => self.layer.on_timer(Instant::now()),
            }
            while let Some(out) = self.layer.poll_output() {
                self.output(out).await;
            }
        }
    }

    fn command(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Respond { key, response } => {
                if let Err(e) = self.layer.send_response(&key, response, now) {
                    tracing::debug!(error = %e, "sip response not sent");
                }
            }
            Cmd::Request { request, to } => {
                let call_id = request.call_id().map(str::to_owned).unwrap_or_default();
                match self.layer.send_request(request, to, now) {
                    Ok(key) => {
                        self.client_keys.insert(key, call_id);
                    }
                    Err(e) => tracing::warn!(error = %e, "sip request not sent"),
                }
            }
            Cmd::Raw { request, to } => {
                let bytes = request.to_bytes();
                self.send_bytes(to, bytes);
            }
            Cmd::Bind { call_id, tx } => {
                self.calls.insert(call_id, tx);
            }
            Cmd::Unbind { call_id } => {
                self.calls.remove(&call_id);
            }
            Cmd::Registered { key, request, source, ws, extension } => {
                let response = self.pbx.register_binding(ws, &extension, &request, source);
                if response.is_success() {
                    tracing::info!(workspace = %ws.0, %extension, from = %source.addr, "phone registered");
                }
                let _ = self.layer.send_response(&key, response, now);
            }
        }
    }

    fn send_bytes(&self, to: Peer, bytes: Vec<u8>) {
        match to.transport {
            Transport::Udp => {
                // try_send_to never blocks the loop; a full socket buffer
                // loses the datagram, which retransmission timers cover.
                if let Err(e) = self.udp.try_send_to(&bytes, to.addr) {
                    tracing::debug!(error = %e, to = %to.addr, "sip udp send");
                }
            }
            _ => {
                let Ok(mut conns) = self.conns.lock() else { return };
                if let Some(tx) = conns.get(&to.addr) {
                    let _ = tx.send(bytes);
                    return;
                }
                // No connection to this peer (a trunk we call): open one; it
                // is reused by later messages, and responses on it are routed
                // like those on accepted connections.
                let (out_tx, out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
                let _ = out_tx.send(bytes);
                conns.insert(to.addr, out_tx.clone());
                drop(conns);
                tokio::spawn(tcp_dial(self.pbx.clone(), to.addr, self.net_tx.clone(), self.conns.clone(), out_tx, out_rx));
            }
        }
    }

    async fn output(&mut self, out: Output) {
        match out {
            Output::Send { to, message } => self.send_bytes(to, message.to_bytes()),
            Output::Request { key, request, from } => self.request(key, request, from),
            Output::Response { key: _, response } => {
                let Ok(call_id) = response.call_id() else { return };
                if let Some(tx) = self.calls.get(call_id) {
                    let _ = tx.send(CallEvent::Response { response });
                }
            }
            Output::Timeout { key } => {
                if let Some(call_id) = self.client_keys.get(&key)
                    && let Some(tx) = self.calls.get(call_id)
                {
                    let _ = tx.send(CallEvent::Timeout);
                }
            }
            Output::Terminated { key } => {
                self.client_keys.remove(&key);
            }
        }
    }

    fn respond(&mut self, key: &TransactionKey, response: Response) {
        let _ = self.layer.send_response(key, response, Instant::now());
    }

    fn request(&mut self, key: Option<TransactionKey>, request: Request, from: Peer) {
        let call_id = request.call_id().map(str::to_owned).unwrap_or_default();
        if let Some(tx) = self.calls.get(&call_id) {
            if tx.send(CallEvent::Request { key: key.clone(), request }).is_err() {
                // The call task is gone; its Call-ID was not unbound yet.
                self.calls.remove(&call_id);
            }
            return;
        }
        // ACKs with no call (a 2xx ACK after the call ended) need no answer.
        let Some(key) = key else { return };
        let reply = |code: u16, reason: &str| Response::for_request(&request, code, reason, Some(&super::token()));
        match request.method {
            Method::Options => {
                let mut r = reply(200, "OK");
                r.headers.push("Allow", ALLOW);
                r.headers.push("Accept", "application/sdp");
                self.respond(&key, r);
            }
            Method::Register => {
                let pbx = self.pbx.clone();
                tokio::spawn(async move { authenticate_register(pbx, key, request, from).await });
            }
            Method::Invite => {
                let has_to_tag = request.to().ok().is_some_and(|t| t.tag().is_some());
                if has_to_tag {
                    // A re-INVITE for a dialog we do not know.
                    self.respond(&key, reply(481, "Call/Transaction Does Not Exist"));
                    return;
                }
                let (tx, rx) = mpsc::unbounded_channel();
                self.calls.insert(call_id, tx);
                tokio::spawn(super::call::inbound(self.pbx.clone(), key, request, from, rx));
            }
            Method::Bye | Method::Cancel | Method::Info | Method::Update | Method::Prack | Method::Notify => {
                self.respond(&key, reply(481, "Call/Transaction Does Not Exist"));
            }
            _ => {
                let mut r = reply(405, "Method Not Allowed");
                r.headers.push("Allow", ALLOW);
                self.respond(&key, r);
            }
        }
    }
}

pub(crate) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO";

/// Digest authentication of a REGISTER against the store (RFC 3261 §22):
/// the realm is the one the extension's HA1 was computed under, found by
/// the To domain (the workspace's SIP domain).
async fn authenticate_register(pbx: Arc<Pbx>, key: TransactionKey, request: Request, from: Peer) {
    let secret = pbx.digest_secret.clone();
    let send = |response: Response| {
        let _ = pbx.cmd.send(Cmd::Respond { key: key.clone(), response });
    };
    let reply = |code: u16, reason: &str| Response::for_request(&request, code, reason, Some("reg"));
    let Ok(to) = request.to() else {
        send(reply(400, "Bad Request"));
        return;
    };
    let Some(user) = to.uri.user.clone() else {
        send(reply(404, "Not Found"));
        return;
    };
    let domain = to.uri.host.to_ascii_lowercase();
    let creds = match pbx.st.store.sip_credentials(&domain, &user).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "sip credentials lookup");
            send(reply(500, "Server Internal Error"));
            return;
        }
    };
    let now = super::unix_now();
    let Some(creds) = creds else {
        // Unknown user or domain: challenge like for a known one (no user
        // enumeration), then refuse whatever comes back.
        let auth = DigestAuthenticator::new(&domain, &secret, NONCE_LIFETIME_SECS);
        if request.headers.get("Authorization").is_some() {
            send(reply(403, "Forbidden"));
        } else {
            let mut r = reply(401, "Unauthorized");
            r.headers.push("WWW-Authenticate", auth.challenge(now, false));
            send(r);
        }
        return;
    };
    let auth = DigestAuthenticator::new(&creds.realm, &secret, NONCE_LIFETIME_SECS);
    let challenge = |stale: bool| {
        let mut r = reply(401, "Unauthorized");
        r.headers.push("WWW-Authenticate", auth.challenge(now, stale));
        r
    };
    let Some(header) = request.headers.get("Authorization") else {
        send(challenge(false));
        return;
    };
    let verdict = DigestCredentials::parse(header).and_then(|c| {
        if c.username != user {
            return Err(DigestError::WrongResponse);
        }
        auth.verify(&c, "REGISTER", &creds.ha1, now)
    });
    match verdict {
        Ok(()) => {
            let _ = pbx.cmd.send(Cmd::Registered { key, request, source: from, ws: creds.workspace_id, extension: user });
        }
        Err(e) if e.status() == 403 => {
            tracing::info!(%user, %domain, from = %from.addr, "REGISTER with a wrong password");
            send(reply(403, "Forbidden"));
        }
        Err(e) => send(challenge(e == DigestError::StaleNonce)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_request_answers_readable_requests_only() {
        let garbage = b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nCSeq: nonsense\r\nContent-Length: 99999\r\n\r\n";
        let r = String::from_utf8(bad_request(garbage).unwrap_or_default()).unwrap_or_default();
        assert!(r.starts_with("SIP/2.0 400 "), "{r}");
        assert!(r.contains("Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx"), "{r}");
        assert!(bad_request(b"\xff\xfe\x00garbage").is_none());
        assert!(bad_request(b"SIP/2.0 200 OK\r\n\r\n").is_none());
        assert!(bad_request(b"ACK sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n").is_none());
        assert!(bad_request(b"INVITE sip:x@y SIP/2.0\r\nFrom: a\r\n\r\n").is_none(), "no Via: nowhere to answer");
    }
}
