//! The SIP server against real peers (SPEC §3.6, issue 7): SIPp phones
//! register with digest auth; a SIPp customer calls a number, hears the
//! IVR, presses 2, waits in the team queue, a SIPp agent phone rings and
//! answers, audio flows both ways and is recorded; a caller who hangs up
//! in the queue leaves an abandoned call in the missed-calls list; garbage
//! over UDP gets a 400 (or nothing) and the server keeps answering. Queue
//! semantics: the team's strategy picks the phone, an unanswered phone is
//! CANCELled at the ring timeout and the next one rings, ring-all rings
//! everyone and CANCELs the losers, agents are `in_call` / `wrap_up` while
//! they talk and after; at the max wait the caller leaves a voicemail or a
//! callback request; a website callback request rings an agent, then the
//! visitor through the trunk. Trunks (issue 7): INVITEs are taken only
//! from a trunk's addresses or with its digest credentials (407), the
//! PBX answers providers' 401/407 with the trunk's credentials and keeps
//! `register` trunks registered; IVR greetings from uploaded WAV files;
//! a call over TCP; baresip as a real auto-answering agent phone.
//!
//! Every peer is a process on loopback started here with bounded
//! timeouts and `kill_on_drop`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};

const NUMBER: &str = "+380441234567";
const PASSWORD: &str = "phone-secret-101";

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp").join(name).display().to_string()
}

/// A free UDP port on loopback (SIPp needs explicit ports so parallel
/// tests never meet on 5060/6000).
async fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    s.local_addr().expect("addr").port()
}

/// An even free port with the next one free too (SIPp's RTP and RTCP).
async fn free_media_port() -> u16 {
    for _ in 0..200 {
        let p = free_udp_port().await;
        let p = p - p % 2;
        if let (Ok(_a), Ok(_b)) = (UdpSocket::bind(("127.0.0.1", p)).await, UdpSocket::bind(("127.0.0.1", p + 1)).await) {
            return p;
        }
    }
    panic!("no free media port pair");
}

struct Sipp {
    child: Child,
}

/// Starts SIPp in the background (`-bg` is not used: we own the process).
fn sipp(target: SocketAddr, local_port: u16, media_port: u16, args: &[&str]) -> Sipp {
    sipp_at("127.0.0.1", target, local_port, media_port, args)
}

/// SIPp sending from `local_ip` (another loopback address is another
/// source as far as trunk matching goes).
fn sipp_at(local_ip: &str, target: SocketAddr, local_port: u16, media_port: u16, args: &[&str]) -> Sipp {
    let mut cmd = Command::new("sipp");
    cmd.arg(target.to_string())
        .args(["-i", local_ip, "-p", &local_port.to_string(), "-mp", &media_port.to_string()])
        .args(["-m", "1", "-l", "1", "-timeout", "60s", "-timeout_error", "-nostdin", "-trace_err"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let dir = std::env::temp_dir().join(format!("sb-sipp-{}-{local_port}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    cmd.current_dir(&dir);
    Sipp { child: cmd.spawn().expect("spawn sipp (Debian package sip-tester)") }
}

impl Sipp {
    /// Waits for SIPp to finish; true when its calls succeeded (exit 0).
    async fn finish(mut self, secs: u64) -> (bool, String) {
        let status = tokio::time::timeout(Duration::from_secs(secs), self.child.wait()).await;
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(Duration::from_secs(1), e.read_to_string(&mut err)).await;
        }
        match status {
            Ok(Ok(s)) => (s.success(), err),
            _ => {
                let _ = self.child.kill().await;
                (false, format!("sipp did not finish within {secs} s; {err}"))
            }
        }
    }
}

/// The demo workspace with voice set up: a voice inbox with NUMBER whose
/// IVR menu sends 2 to Support; Alice has extension 101; the provider
/// trunk takes calls from 127.0.0.1 (where every SIPp caller sends from).
struct Voice {
    admin: Api,
    ws: i64,
    trunk: i64,
    domain: String,
    alice: i64,
    bob: i64,
    support: i64,
    website_token: String,
}

async fn setup(server: &Server) -> Voice {
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let v = |p: &str| format!("/api/v1/workspaces/{ws}/voice/{p}");
    let (status, settings) =
        admin.put(&v("settings"), json!({"ring_timeout_secs": 10, "wrap_up_secs": 0, "max_queue_wait_secs": 120})).await;
    assert_eq!(status, 200, "{settings}");
    let domain = settings["sip_domain"].as_str().expect("domain").to_owned();
    let (_, users) = admin.get(&format!("/api/v1/workspaces/{ws}/users")).await;
    let alice = users["data"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["email"] == "alice@demo.test"))
        .and_then(|u| u["id"].as_i64())
        .expect("alice");
    let bob = users["data"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["email"] == "bob@demo.test"))
        .and_then(|u| u["id"].as_i64())
        .expect("bob");
    let (_, teams) = admin.get(&format!("/api/v1/workspaces/{ws}/teams")).await;
    let support = teams["data"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "Support"))
        .and_then(|t| t["id"].as_i64())
        .expect("support team");
    let (status, ext) = admin
        .post(&v("extensions"), json!({"extension": "101", "user_id": alice, "display_name": "Alice", "password": PASSWORD}))
        .await;
    assert_eq!(status, 201, "{ext}");
    let (status, inbox) = admin
        .post(&format!("/api/v1/workspaces/{ws}/inboxes"), json!({"name": "Phone", "channel": "voice", "config": {"numbers": [NUMBER]}}))
        .await;
    assert_eq!(status, 201, "{inbox}");
    // Inbound calls are only taken from a trunk of the workspace.
    let (status, trunk) = admin
        .post(&v("trunks"), json!({"name": "Provider", "host": "127.0.0.1", "port": 5060, "inbound_ips": ["127.0.0.1"]}))
        .await;
    assert_eq!(status, 201, "{trunk}");
    let trunk = trunk["id"].as_i64().expect("trunk id");
    let (status, menu) = admin
        .post(
            &v("ivr-menus"),
            json!({"name": "Main", "prompt": {"tts": "Welcome. Press 2 for support."},
                   "options": [{"digit": "2", "action": {"type": "queue", "team_id": support}}],
                   "timeout_secs": 5, "max_retries": 1}),
        )
        .await;
    assert_eq!(status, 201, "{menu}");
    let (_, numbers) = admin.get(&v("numbers")).await;
    let number_id = numbers["data"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["number"] == NUMBER))
        .and_then(|n| n["id"].as_i64())
        .expect("number");
    let (status, n) = admin.patch(&v(&format!("numbers/{number_id}")), json!({"ivr_menu_id": menu["id"]})).await;
    assert_eq!(status, 200, "{n}");
    // Only online agents are rung.
    online(server, ws, "alice@demo.test").await;
    Voice { admin, ws, trunk, domain, alice, bob, support, website_token }
}

async fn online(server: &Server, ws: i64, email: &str) {
    let agent = server.login(email).await;
    let (status, p) = agent.put(&format!("/api/v1/workspaces/{ws}/presence"), json!({"status": "online"})).await;
    assert_eq!(status, 200, "{p}");
}

/// Gives Bob extension 102 and puts him online.
async fn add_bob(server: &Server, voice: &Voice) {
    let v = format!("/api/v1/workspaces/{}/voice/extensions", voice.ws);
    let (status, ext) =
        voice.admin.post(&v, json!({"extension": "102", "user_id": voice.bob, "display_name": "Bob", "password": PASSWORD})).await;
    assert_eq!(status, 201, "{ext}");
    online(server, voice.ws, "bob@demo.test").await;
}

async fn voice_settings(voice: &Voice, body: Value) {
    let (status, s) = voice.admin.put(&format!("/api/v1/workspaces/{}/voice/settings", voice.ws), body).await;
    assert_eq!(status, 200, "{s}");
}

async fn presence_of(voice: &Voice, user: i64) -> String {
    let (_, users) = voice.admin.get(&format!("/api/v1/workspaces/{}/users", voice.ws)).await;
    users["data"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["id"].as_i64() == Some(user)))
        .and_then(|u| u["presence"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Polls until `user`'s presence is `status` (up to `secs`).
async fn wait_presence(voice: &Voice, user: i64, status: &str, secs: u64) {
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let now = presence_of(voice, user).await;
        if now == status {
            return;
        }
        assert!(tokio::time::Instant::now() < until, "presence of {user} is {now}, not {status} within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers extension 101 from `port` with `password`, expecting 200 (or 403).
async fn register(server: &Server, voice: &Voice, port: u16, password: &str, expect_ok: bool) -> (bool, String) {
    register_ext(server, voice, "101", port, password, expect_ok).await
}

/// Alice's phone: extension 101 registered from a fresh port, then a SIPp
/// UAS there that answers one call (`agent_phone.xml`).
async fn alice_phone(server: &Server, voice: &Voice) -> Sipp {
    let sip = server.sip_udp.expect("SIP listening line");
    let agent_port = free_udp_port().await;
    let (ok, err) = register(server, voice, agent_port, PASSWORD, true).await;
    assert!(ok, "agent registration: {err}");
    sipp(sip, agent_port, free_media_port().await, &["-sf", &scenario("agent_phone.xml")])
}

/// A call's WAV (`recording` or `voicemail`), fetched as the admin.
async fn call_wav(voice: &Voice, id: i64, kind: &str) -> hound::WavReader<std::io::Cursor<Vec<u8>>> {
    let url = format!("{}/api/v1/workspaces/{}/calls/{id}/{kind}", voice.admin.base, voice.ws);
    let resp = voice.admin.http.get(url).bearer_auth(voice.admin.token.clone().unwrap_or_default()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{kind}");
    let wav = resp.bytes().await.unwrap().to_vec();
    hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV")
}

async fn register_ext(server: &Server, voice: &Voice, ext: &str, port: u16, password: &str, expect_ok: bool) -> (bool, String) {
    let sip = server.sip_udp.expect("SIP listening line");
    let media = free_media_port().await;
    let file = if expect_ok { "register.xml" } else { "register_wrong_password.xml" };
    let run = sipp(
        sip,
        port,
        media,
        &["-sf", &scenario(file), "-s", ext, "-au", ext, "-ap", password, "-key", "domain", &voice.domain],
    );
    run.finish(30).await
}

async fn calls(voice: &Voice) -> Vec<Value> {
    let (status, page) = voice.admin.get(&format!("/api/v1/workspaces/{}/calls", voice.ws)).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

/// Polls the call log until the newest call has ended (up to `secs`).
async fn ended_call(voice: &Voice, secs: u64) -> Value {
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let list = calls(voice).await;
        if let Some(c) = list.first()
            && !c["disposition"].is_null()
            && (c["disposition"] != "answered" || !c["recording_attachment_id"].is_null())
        {
            return c.clone();
        }
        assert!(tokio::time::Instant::now() < until, "no ended call within {secs} s: {list:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn register_with_digest_auth_and_wrong_password_is_refused() {
    let dir = TempDir::new("sb-sip-register").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let (ok, err) = register(&server, &voice, free_udp_port().await, PASSWORD, true).await;
    assert!(ok, "REGISTER with the right password must end in 200: {err}");
    let (ok, err) = register(&server, &voice, free_udp_port().await, "not-the-password", false).await;
    assert!(ok, "REGISTER with a wrong password must end in 403: {err}");
}

#[tokio::test]
async fn malformed_sip_gets_400_or_nothing_and_the_server_keeps_answering() {
    let dir = TempDir::new("sb-sip-malformed").unwrap();
    let server = Server::demo(&dir).await;
    let sip = server.sip_udp.expect("SIP listening line");
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let mut buf = vec![0u8; 65_536];

    // A readable request line and Via, a broken CSeq and Content-Length: 400.
    let bad = format!(
        "INVITE sip:1@x SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad1\r\nCSeq: x\r\nContent-Length: 99999\r\n\r\n"
    );
    sock.send_to(bad.as_bytes(), sip).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await.expect("a 400").unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(text.starts_with("SIP/2.0 400"), "{text}");
    assert!(text.contains("branch=z9hG4bKbad1"), "{text}");

    // Garbage of all kinds: dropped, never a crash.
    let garbage: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\xff\xfe".to_vec(),
        b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        vec![b'A'; 70_000],
        b"INVITE\r\n\r\n".to_vec(),
        b"REGISTER sip:x SIP/2.0\r\nVia: \r\nTo: <>\r\nFrom: ;;;\r\nCall-ID: \r\nCSeq: 99999999999999999999 REGISTER\r\n\r\n".to_vec(),
        b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n".to_vec(),
    ];
    for g in &garbage {
        let _ = sock.send_to(g, sip).await;
    }

    // Still alive: OPTIONS gets 200.
    let options = format!(
        "OPTIONS sip:ping@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKopt1;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:t@{me}>;tag=1\r\nTo: <sip:ping@{sip}>\r\nCall-ID: opt-1@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(options.as_bytes(), sip).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (n, _) = sock.recv_from(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.contains("opt-1@t") {
                return text;
            }
        }
    })
    .await
    .expect("OPTIONS answered after the garbage");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    let (status, _) = server.api().get("/api/v1/health").await;
    assert!(status == 200 || status == 404, "HTTP still up");
}

/// (b) + (d): IVR → 2 → queue → agent rings and answers → audio both ways
/// → the caller hangs up → an answered CDR with the agent and a stereo
/// recording as long as the call with the caller's audio in it.
#[tokio::test]
async fn inbound_call_through_ivr_and_queue_to_a_registered_agent_is_recorded() {
    let dir = TempDir::new("sb-sip-call").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");

    let agent = alice_phone(&server, &voice).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = std::time::Instant::now();
    let digits = NUMBER.trim_start_matches('+');
    let caller = sipp(sip, free_udp_port().await, free_media_port().await, &["-sf", &scenario("caller.xml"), "-s", digits, "-d", "6000"]);
    let (caller_ok, caller_err) = caller.finish(60).await;
    let wall = started.elapsed();
    let (agent_ok, agent_err) = agent.finish(15).await;
    assert!(caller_ok, "caller scenario: {caller_err}");
    assert!(agent_ok, "agent phone scenario: {agent_err}");

    let call = ended_call(&voice, 20).await;
    assert_eq!(call["direction"], "inbound", "{call}");
    assert_eq!(call["disposition"], "answered", "{call}");
    assert_eq!(call["agent_user_id"].as_i64(), Some(voice.alice), "{call}");
    assert_eq!(call["to_number"], NUMBER, "{call}");
    assert_eq!(call["from_number"], "+380671112233", "{call}");
    assert!(call["talk_ms"].as_i64().unwrap_or(0) >= 4000, "{call}");
    assert!(!call["recording_attachment_id"].is_null(), "{call}");

    // The recording: as long as the call (offered → ended) within 10 %.
    let reader = call_wav(&voice, call["id"].as_i64().unwrap(), "recording").await;
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000), "stereo 8 kHz");
    let samples: Vec<i16> = reader.into_samples::<i16>().map(|s| s.unwrap_or(0)).collect();
    let rec_ms = (samples.len() / 2) as i64 * 1000 / 8000;
    let call_ms = call["wait_ms"].as_i64().unwrap_or(0) + call["talk_ms"].as_i64().unwrap_or(0);
    let diff = (rec_ms - call_ms).abs() as f64;
    assert!(diff <= call_ms as f64 * 0.10, "recording {rec_ms} ms vs call {call_ms} ms (wall {wall:?})");

    // (d) Both channels carry the audio SIPp sent, not silence: left is
    // the caller, right the agent. The sample (g711a.pcap) is speech.
    let energy = |ch: usize, from_ms: i64, to_ms: i64| -> f64 {
        let (a, b) = ((from_ms * 8) as usize, (to_ms * 8) as usize);
        let frames: Vec<f64> = samples.chunks_exact(2).skip(a).take(b.saturating_sub(a)).map(|f| f[ch] as f64).collect();
        (frames.iter().map(|x| x * x).sum::<f64>() / frames.len().max(1) as f64).sqrt()
    };
    // The loudest second, not the mean: when the caller's speech falls in
    // the call depends on how fast the IVR ran on a loaded machine.
    let per_sec: Vec<i64> = (0..rec_ms / 1000).map(|s| energy(0, s * 1000, s * 1000 + 1000) as i64).collect();
    let caller_rms = per_sec.iter().copied().max().unwrap_or(0) as f64;
    let agent_rms = energy(1, call["wait_ms"].as_i64().unwrap_or(0) + 500, rec_ms);
    assert!(caller_rms > 200.0, "caller channel is silent (loudest second rms {caller_rms:.0}; per second {per_sec:?})");
    assert!(agent_rms > 200.0, "agent channel is silent (rms {agent_rms:.0})");
}

/// (c): the caller hangs up while queued (no agent phone registered) →
/// an abandoned call in the missed-calls list.
#[tokio::test]
async fn caller_hanging_up_in_the_queue_is_an_abandoned_missed_call() {
    let dir = TempDir::new("sb-sip-abandon").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    let digits = NUMBER.trim_start_matches('+');
    let caller = sipp(sip, free_udp_port().await, free_media_port().await, &["-sf", &scenario("caller.xml"), "-s", digits, "-d", "3000"]);
    let (ok, err) = caller.finish(40).await;
    assert!(ok, "caller scenario: {err}");
    let call = ended_call(&voice, 15).await;
    assert_eq!(call["disposition"], "abandoned", "{call}");
    assert!(call["agent_user_id"].is_null(), "{call}");
    assert!(!call["team_id"].is_null(), "queued to a team: {call}");
    assert_eq!(call["callback_status"], "pending", "{call}");
    let (status, missed) = voice.admin.get(&format!("/api/v1/workspaces/{}/calls/missed", voice.ws)).await;
    assert_eq!(status, 200, "{missed}");
    let ids: Vec<i64> = missed["data"].as_array().map(|a| a.iter().filter_map(|c| c["id"].as_i64()).collect()).unwrap_or_default();
    assert!(ids.contains(&call["id"].as_i64().unwrap()), "missed calls {missed}");
}

/// Alice's phone registered and answering (SIPp), and a customer (SIPp)
/// reached through a loopback trunk: the two ends of an outbound call.
async fn agent_phone_and_customer_trunk(server: &Server, voice: &Voice) -> (Sipp, Sipp) {
    agent_phone_and_customer_behind(server, voice, "customer_hangs_up.xml", json!({})).await
}

/// Like `agent_phone_and_customer_trunk` with the customer's scenario and
/// more trunk settings (credentials) chosen by the test.
async fn agent_phone_and_customer_behind(server: &Server, voice: &Voice, customer_scenario: &str, trunk: Value) -> (Sipp, Sipp) {
    let sip = server.sip_udp.expect("SIP listening line");
    let agent = alice_phone(server, voice).await;
    let customer_port = free_udp_port().await;
    let customer =
        sipp(sip, customer_port, free_media_port().await, &["-sf", &scenario(customer_scenario), "-d", "3000"]);
    let mut patch = trunk;
    patch["port"] = json!(customer_port);
    let (status, trunk) = voice.admin.patch(&format!("/api/v1/workspaces/{}/voice/trunks/{}", voice.ws, voice.trunk), patch).await;
    assert_eq!(status, 200, "{trunk}");
    (agent, customer)
}

/// Click-to-call: `POST calls` rings the agent's phone, then the customer
/// through the trunk with the number as caller ID; bridged and recorded.
#[tokio::test]
async fn click_to_call_rings_the_agent_then_the_customer() {
    let dir = TempDir::new("sb-sip-c2c").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let (agent, customer) = agent_phone_and_customer_trunk(&server, &voice).await;
    click_to_call_is_answered_and_recorded(&server, &voice, agent, customer).await;
}

/// Alice clicks to call the customer: her phone (`agent`) answers, then the
/// customer (`customer`, behind the trunk) does; the call ends answered,
/// with the number as caller ID and a recording.
async fn click_to_call_is_answered_and_recorded(server: &Server, voice: &Voice, agent: Sipp, customer: Sipp) {
    let (_, numbers) = voice.admin.get(&format!("/api/v1/workspaces/{}/voice/numbers", voice.ws)).await;
    let number_id = numbers["data"][0]["id"].as_i64().expect("number");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let alice = server.login("alice@demo.test").await;
    let (status, row) = alice
        .post(&format!("/api/v1/workspaces/{}/calls", voice.ws), json!({"number": "+380675554433", "voice_number_id": number_id}))
        .await;
    assert_eq!(status, 202, "{row}");
    let (customer_ok, customer_err) = customer.finish(60).await;
    let (agent_ok, agent_err) = agent.finish(15).await;
    assert!(customer_ok, "customer scenario: {customer_err}");
    assert!(agent_ok, "agent phone scenario: {agent_err}");
    let call = ended_call(voice, 20).await;
    assert_eq!(call["direction"], "outbound", "{call}");
    assert_eq!(call["disposition"], "answered", "{call}");
    assert_eq!(call["agent_user_id"].as_i64(), Some(voice.alice), "{call}");
    assert_eq!(call["from_number"], NUMBER, "caller ID is the number: {call}");
    assert_eq!(call["to_number"], "+380675554433", "{call}");
    assert!(!call["recording_attachment_id"].is_null(), "{call}");
}

/// A port free on loopback for both UDP and TCP at the moment of asking.
async fn free_udp_and_tcp_port() -> u16 {
    loop {
        let port = free_udp_port().await;
        if tokio::net::TcpListener::bind(("127.0.0.1", port)).await.is_ok() {
            return port;
        }
    }
}

/// A free TCP port on loopback (for SIPp `-t t1` listening as the customer).
async fn free_tcp_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}

/// Issue 7, TCP trunks outbound: with the trunk on `transport: tcp`, the
/// server opens a TCP connection to the trunk for click-to-call; the SIPp
/// customer listens on TCP only (`-t t1`), answers, and hangs up over the
/// same connection; the call is answered and recorded.
#[tokio::test]
async fn click_to_call_through_a_tcp_trunk() {
    let dir = TempDir::new("sb-sip-c2c-tcp").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip_tcp = server.sip_tcp.expect("SIP TCP listening line");
    let agent = alice_phone(&server, &voice).await;
    let customer_port = free_tcp_port().await;
    let customer = sipp(
        sip_tcp,
        customer_port,
        free_media_port().await,
        &["-sf", &scenario("customer_hangs_up.xml"), "-d", "3000", "-t", "t1"],
    );
    let v = |p: &str| format!("/api/v1/workspaces/{}/voice/{p}", voice.ws);
    let (status, trunk) = voice.admin.patch(&v(&format!("trunks/{}", voice.trunk)), json!({"port": customer_port, "transport": "tcp"})).await;
    assert_eq!(status, 200, "{trunk}");
    assert_eq!(trunk["transport"], "tcp", "{trunk}");
    click_to_call_is_answered_and_recorded(&server, &voice, agent, customer).await;
}

/// Polls the call log until the newest call matches `done` (up to `secs`).
async fn newest_call_until(voice: &Voice, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let list = calls(voice).await;
        if let Some(c) = list.first()
            && done(c)
        {
            return c.clone();
        }
        assert!(tokio::time::Instant::now() < until, "no matching call within {secs} s: {list:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn team_routing(voice: &Voice, routing: Value) {
    let (status, t) =
        voice.admin.patch(&format!("/api/v1/workspaces/{}/teams/{}", voice.ws, voice.support), json!({"routing": routing})).await;
    assert_eq!(status, 200, "{t}");
}

async fn member_priority(voice: &Voice, user: i64, priority: i32) {
    let path = format!("/api/v1/workspaces/{}/teams/{}/members/{user}", voice.ws, voice.support);
    let (status, t) = voice.admin.put(&path, json!({"priority": priority})).await;
    assert_eq!(status, 200, "{t}");
}

/// Issue 7: Alice is first by the team's `ordered` strategy but never
/// picks up; at the (small) ring timeout her phone is CANCELled and Bob's
/// rings and answers. Bob is `in_call` while talking, `wrap_up` after,
/// then back online; the chat router did not hand the call's conversation
/// to anyone else.
#[tokio::test]
async fn ring_timeout_moves_the_call_to_the_next_agent_by_strategy() {
    let dir = TempDir::new("sb-sip-ring-timeout").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    add_bob(&server, &voice).await;
    voice_settings(&voice, json!({"ring_timeout_secs": 5, "wrap_up_secs": 2, "max_queue_wait_secs": 120})).await;
    team_routing(&voice, json!({"auto_assign": true, "strategy": "ordered"})).await;
    member_priority(&voice, voice.alice, 1).await;
    member_priority(&voice, voice.bob, 2).await;

    let (alice_port, bob_port) = (free_udp_port().await, free_udp_port().await);
    let (ok, err) = register_ext(&server, &voice, "101", alice_port, PASSWORD, true).await;
    assert!(ok, "alice registration: {err}");
    let (ok, err) = register_ext(&server, &voice, "102", bob_port, PASSWORD, true).await;
    assert!(ok, "bob registration: {err}");
    let alice = sipp(sip, alice_port, free_media_port().await, &["-sf", &scenario("agent_never_answers.xml")]);
    let bob = sipp(sip, bob_port, free_media_port().await, &["-sf", &scenario("agent_phone.xml")]);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let digits = NUMBER.trim_start_matches('+');
    let caller = sipp(sip, free_udp_port().await, free_media_port().await, &["-sf", &scenario("caller.xml"), "-s", digits, "-d", "11000"]);
    // Bob answers about 2 s (IVR) + 5 s (Alice rings) + 0.5 s after the start.
    wait_presence(&voice, voice.bob, "in_call", 20).await;
    assert_eq!(presence_of(&voice, voice.alice).await, "online", "alice was only rung");
    let (caller_ok, caller_err) = caller.finish(60).await;
    let (alice_ok, alice_err) = alice.finish(15).await;
    let (bob_ok, bob_err) = bob.finish(15).await;
    assert!(caller_ok, "caller scenario: {caller_err}");
    assert!(alice_ok, "alice's phone must ring and be CANCELled: {alice_err}");
    assert!(bob_ok, "bob's phone: {bob_err}");

    let call = ended_call(&voice, 20).await;
    assert_eq!(call["disposition"], "answered", "{call}");
    assert_eq!(call["agent_user_id"].as_i64(), Some(voice.bob), "{call}");
    assert!(call["wait_ms"].as_i64().unwrap_or(0) >= 5000, "rang alice first: {call}");
    wait_presence(&voice, voice.bob, "wrap_up", 5).await;
    wait_presence(&voice, voice.bob, "online", 10).await;
    let conv = call["conversation_id"].as_i64().unwrap();
    let (_, c) = voice.admin.get(&format!("/api/v1/workspaces/{}/conversations/{conv}", voice.ws)).await;
    assert_eq!(c["assignee_id"].as_i64(), Some(voice.bob), "the conversation is the answering agent's: {c}");
}

/// Ring-all: both phones ring at once, Bob answers first, Alice's phone
/// gets a CANCEL (her scenario only passes if it does).
#[tokio::test]
async fn ring_all_rings_every_free_agent_and_cancels_the_others() {
    let dir = TempDir::new("sb-sip-ring-all").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    add_bob(&server, &voice).await;
    team_routing(&voice, json!({"strategy": "ring_all", "offer_timeout_secs": 20})).await;
    // `in_call` / `wrap_up` belong to the phone system.
    let bob_api = server.login("bob@demo.test").await;
    let (status, body) = bob_api.put(&format!("/api/v1/workspaces/{}/presence", voice.ws), json!({"status": "in_call"})).await;
    assert_eq!(status, 400, "{body}");
    let (alice_port, bob_port) = (free_udp_port().await, free_udp_port().await);
    let (ok, err) = register_ext(&server, &voice, "101", alice_port, PASSWORD, true).await;
    assert!(ok, "alice registration: {err}");
    let (ok, err) = register_ext(&server, &voice, "102", bob_port, PASSWORD, true).await;
    assert!(ok, "bob registration: {err}");
    let alice = sipp(sip, alice_port, free_media_port().await, &["-sf", &scenario("agent_never_answers.xml")]);
    let bob = sipp(sip, bob_port, free_media_port().await, &["-sf", &scenario("agent_phone.xml")]);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let digits = NUMBER.trim_start_matches('+');
    let caller = sipp(sip, free_udp_port().await, free_media_port().await, &["-sf", &scenario("caller.xml"), "-s", digits, "-d", "3000"]);
    let (alice_ok, alice_err) = alice.finish(30).await;
    assert!(alice_ok, "alice's phone must ring and be CANCELled: {alice_err}");
    let (caller_ok, caller_err) = caller.finish(60).await;
    let (bob_ok, bob_err) = bob.finish(15).await;
    assert!(caller_ok, "caller scenario: {caller_err}");
    assert!(bob_ok, "bob's phone: {bob_err}");
    let call = ended_call(&voice, 20).await;
    assert_eq!(call["disposition"], "answered", "{call}");
    assert_eq!(call["agent_user_id"].as_i64(), Some(voice.bob), "{call}");
    assert!(call["wait_ms"].as_i64().unwrap_or(0) < 5000, "answered on the first ring: {call}");
}

/// Max wait → voicemail: nobody can answer; after `max_queue_wait_secs`
/// the caller hears the prompt and the tone, speaks, hangs up; the call
/// ends as voicemail with the message attached and is a missed call.
#[tokio::test]
async fn max_wait_sends_the_caller_to_voicemail() {
    let dir = TempDir::new("sb-sip-voicemail").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    voice_settings(&voice, json!({"max_queue_wait_secs": 10, "max_wait_action": "voicemail", "recording": true})).await;
    let digits = NUMBER.trim_start_matches('+');
    let caller = sipp(
        sip,
        free_udp_port().await,
        free_media_port().await,
        &["-sf", &scenario("caller_leaves_voicemail.xml"), "-s", digits, "-d", "14000"],
    );
    let (ok, err) = caller.finish(60).await;
    assert!(ok, "caller scenario: {err}");
    let call = newest_call_until(&voice, 20, |c| !c["voicemail_attachment_id"].is_null()).await;
    assert_eq!(call["disposition"], "voicemail", "{call}");
    assert_eq!(call["callback_status"], "pending", "{call}");
    let id = call["id"].as_i64().unwrap();
    let (status, missed) = voice.admin.get(&format!("/api/v1/workspaces/{}/calls/missed", voice.ws)).await;
    assert_eq!(status, 200, "{missed}");
    assert!(missed["data"].as_array().is_some_and(|a| a.iter().any(|c| c["id"].as_i64() == Some(id))), "{missed}");
    // The whole call stays the call's recording (stereo, IVR and queue
    // included: ACK + 1.5 s + 14 s + 7 s until the BYE).
    let recording = call_wav(&voice, id, "recording").await;
    assert_eq!(recording.spec().channels, 2);
    let call_ms = u64::from(recording.duration()) / 8;
    assert!(call_ms > 21_000, "the recording is the whole call: {call_ms} ms");
    // The voicemail is only the message: the caller's channel (mono) from
    // the end of the tone (after the 10 s max wait and the ~2.6 s prompt
    // and tone) to the BYE: ~8.5 s, of which the caller speaks the last 7
    // (the sample starts 14 s after the key press). With the prompt it
    // would be ~11 s, with the queue ~21 s.
    let voicemail = call_wav(&voice, id, "voicemail").await;
    assert_eq!(voicemail.spec().channels, 1, "the caller's channel only");
    assert_eq!(voicemail.spec().sample_rate, 8000);
    let message_ms = u64::from(voicemail.duration()) / 8;
    eprintln!("voicemail: {message_ms} ms of a {call_ms} ms call");
    assert!((5_000..=10_000).contains(&message_ms), "the message is {message_ms} ms of a {call_ms} ms call");
    assert!(call_ms >= message_ms + 10_000, "the queue wait is not in the message: {message_ms} of {call_ms} ms");
    let samples: Vec<f64> = voicemail.into_samples::<i16>().map(|s| f64::from(s.unwrap_or(0))).collect();
    let rms: Vec<f64> = samples.chunks(8000).map(|sec| (sec.iter().map(|x| x * x).sum::<f64>() / sec.len() as f64).sqrt()).collect();
    // The caller is silent until the sample starts (~2.5 s in; the tone
    // is not on the caller's channel), then speaks (3-5 s into the
    // sample); a busy machine may lose a few packets, silence stays ~0.
    assert!(rms[0] < 50.0, "the message starts with the caller's silence, not the prompt: {rms:?}");
    let loudest = rms.iter().copied().fold(0.0, f64::max);
    assert!(loudest > 200.0, "the message is silent (rms per second {rms:?})");
}

/// Max wait → callback: the caller is told they will be called back and
/// hung up on; a callback request with their number exists and the call
/// is in the missed-calls list.
#[tokio::test]
async fn max_wait_leaves_a_callback_request() {
    let dir = TempDir::new("sb-sip-max-wait-callback").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    voice_settings(&voice, json!({"max_queue_wait_secs": 10, "max_wait_action": "callback"})).await;
    let digits = NUMBER.trim_start_matches('+');
    let caller = sipp(sip, free_udp_port().await, free_media_port().await, &["-sf", &scenario("caller_waits_for_bye.xml"), "-s", digits]);
    let (ok, err) = caller.finish(60).await;
    assert!(ok, "the PBX must hang up after the max wait: {err}");
    let call = ended_call(&voice, 20).await;
    assert_eq!(call["disposition"], "missed", "{call}");
    assert_eq!(call["callback_status"], "pending", "{call}");
    let id = call["id"].as_i64().unwrap();
    let (_, missed) = voice.admin.get(&format!("/api/v1/workspaces/{}/calls/missed", voice.ws)).await;
    assert!(missed["data"].as_array().is_some_and(|a| a.iter().any(|c| c["id"].as_i64() == Some(id))), "{missed}");
    let (status, reqs) = voice.admin.get(&format!("/api/v1/workspaces/{}/calls/callback-requests", voice.ws)).await;
    assert_eq!(status, 200, "{reqs}");
    let req = &reqs["data"][0];
    assert_eq!(req["phone"], "+380671112233", "{reqs}");
    assert_eq!(req["source"], "queue", "{reqs}");
    assert_eq!(req["call_id"].as_i64(), Some(id), "{reqs}");
    assert_eq!(req["status"], "pending", "queued callbacks wait for an agent: {reqs}");
}

/// Website callback request: the widget's inbox goes to Support, whose
/// free agent's phone rings first; then the visitor is dialled through the
/// trunk with the number as caller ID; the request ends `done`.
#[tokio::test]
async fn website_callback_request_rings_an_agent_then_the_visitor() {
    let dir = TempDir::new("sb-sip-web-callback").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let (agent, customer) = agent_phone_and_customer_trunk(&server, &voice).await;
    let ws = voice.ws;
    let (_, inboxes) = voice.admin.get(&format!("/api/v1/workspaces/{ws}/inboxes")).await;
    let web_inbox = inboxes["data"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["channel"] == "webchat"))
        .and_then(|i| i["id"].as_i64())
        .expect("webchat inbox");
    let (status, rules) = voice
        .admin
        .put(
            &format!("/api/v1/workspaces/{ws}/routing/rules"),
            serde_json::from_str::<Value>(&format!(r#"{{"rules": [], "inbox_default_team": {{"{web_inbox}": {}}}}}"#, voice.support)).unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{rules}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, req) = server
        .api()
        .post("/api/v1/widget/callback-request", json!({"website_token": voice.website_token, "phone": "+380675554433", "name": "Visitor"}))
        .await;
    assert_eq!(status, 202, "{req}");
    let (customer_ok, customer_err) = customer.finish(60).await;
    let (agent_ok, agent_err) = agent.finish(15).await;
    assert!(customer_ok, "visitor (trunk) scenario: {customer_err}");
    assert!(agent_ok, "agent phone scenario: {agent_err}");
    let call = ended_call(&voice, 20).await;
    assert_eq!(call["direction"], "outbound", "{call}");
    assert_eq!(call["disposition"], "answered", "{call}");
    assert_eq!(call["agent_user_id"].as_i64(), Some(voice.alice), "{call}");
    assert_eq!(call["from_number"], NUMBER, "caller ID is the number: {call}");
    assert_eq!(call["to_number"], "+380675554433", "{call}");
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, reqs) = voice.admin.get(&format!("/api/v1/workspaces/{ws}/calls/callback-requests")).await;
        let r = &reqs["data"][0];
        if r["status"] == "done" {
            assert_eq!(r["call_id"], call["id"], "{r}");
            assert_eq!(r["inbox_id"].as_i64(), Some(web_inbox), "{r}");
            break;
        }
        assert!(tokio::time::Instant::now() < until, "callback request not done: {reqs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The caller's number appears on no contact of the workspace.
async fn no_contact_with(voice: &Voice, phone: &str) {
    let (status, contacts) = voice.admin.get(&format!("/api/v1/workspaces/{}/contacts", voice.ws)).await;
    assert_eq!(status, 200, "{contacts}");
    assert!(!contacts.to_string().contains(phone), "a contact was stored: {contacts}");
}

/// Issue 7, trunks: an INVITE from an address no trunk of the number's
/// workspace lists (127.0.0.2; the trunk lists 127.0.0.1) gets 403 and
/// leaves no call and no contact behind.
#[tokio::test]
async fn invite_from_an_unlisted_address_is_forbidden_and_stores_nothing() {
    let dir = TempDir::new("sb-sip-trunk-forbidden").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    let digits = NUMBER.trim_start_matches('+');
    let caller =
        sipp_at("127.0.0.2", sip, free_udp_port().await, free_media_port().await, &["-sf", &scenario("trunk_call_forbidden.xml"), "-s", digits]);
    let (ok, err) = caller.finish(30).await;
    assert!(ok, "INVITE from an unlisted address must end in 403: {err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(calls(&voice).await.is_empty(), "no call row");
    no_contact_with(&voice, "+380671112233").await;
}

/// A trunk that takes credentials: the provider (from an address no trunk
/// lists) is challenged with 407, answers with the trunk's username and
/// password and the call is taken; a wrong password gets 403 and nothing
/// is stored.
#[tokio::test]
async fn invite_with_trunk_credentials_is_challenged_then_accepted() {
    let dir = TempDir::new("sb-sip-trunk-auth").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    let (status, trunk) = voice
        .admin
        .post(
            &format!("/api/v1/workspaces/{}/voice/trunks", voice.ws),
            json!({"name": "Carrier", "host": "192.0.2.10", "inbound_auth": true, "username": "carrier-7", "password": "trunk-pass-7"}),
        )
        .await;
    assert_eq!(status, 201, "{trunk}");
    let digits = NUMBER.trim_start_matches('+');

    let wrong = sipp_at(
        "127.0.0.2",
        sip,
        free_udp_port().await,
        free_media_port().await,
        &["-sf", &scenario("trunk_call_wrong_auth.xml"), "-s", digits, "-au", "carrier-7", "-ap", "not-the-password"],
    );
    let (ok, err) = wrong.finish(30).await;
    assert!(ok, "wrong trunk password: 407, then 403: {err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(calls(&voice).await.is_empty(), "no call row after a wrong password");
    no_contact_with(&voice, "+380671112233").await;

    let right = sipp_at(
        "127.0.0.2",
        sip,
        free_udp_port().await,
        free_media_port().await,
        &["-sf", &scenario("trunk_call_auth.xml"), "-s", digits, "-au", "carrier-7", "-ap", "trunk-pass-7", "-d", "1000"],
    );
    let (ok, err) = right.finish(30).await;
    assert!(ok, "trunk credentials: 407, then 200: {err}");
    let call = ended_call(&voice, 15).await;
    assert_eq!(call["direction"], "inbound", "{call}");
    assert_eq!(call["from_number"], "+380671112233", "{call}");
    assert_eq!(call["to_number"], NUMBER, "{call}");
    assert_eq!(calls(&voice).await.len(), 1, "one call: the challenged INVITE stored nothing");
}

/// Issue 7, trunk digest auth outbound: the provider challenges the
/// INVITE to the customer (401, then 407 as carriers do); we answer with
/// the trunk's username and password and CSeq + 1, and the call is
/// bridged. The 401 provider checks the digest with verifyauth; the 407
/// one the Proxy-Authorization's form (SIPp verifies Authorization only).
#[tokio::test]
async fn click_to_call_answers_the_trunks_challenge_with_its_credentials() {
    let dir = TempDir::new("sb-sip-c2c-auth").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let (_, numbers) = voice.admin.get(&format!("/api/v1/workspaces/{}/voice/numbers", voice.ws)).await;
    let number_id = numbers["data"][0]["id"].as_i64().expect("number");
    let alice = server.login("alice@demo.test").await;
    let mut ids = Vec::new();
    for provider in ["customer_behind_401_trunk.xml", "customer_behind_407_trunk.xml"] {
        let (agent, customer) =
            agent_phone_and_customer_behind(&server, &voice, provider, json!({"username": "carrier-out", "password": "out-pass-9"})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, row) = alice
            .post(&format!("/api/v1/workspaces/{}/calls", voice.ws), json!({"number": "+380675554433", "voice_number_id": number_id}))
            .await;
        assert_eq!(status, 202, "{row}");
        let (customer_ok, customer_err) = customer.finish(60).await;
        let (agent_ok, agent_err) = agent.finish(15).await;
        assert!(customer_ok, "{provider}: the provider must see valid credentials on the re-sent INVITE: {customer_err}");
        assert!(agent_ok, "{provider}: agent phone scenario: {agent_err}");
        let call = newest_call_until(&voice, 20, |c| c["id"] == row["id"] && !c["disposition"].is_null()).await;
        assert_eq!(call["direction"], "outbound", "{call}");
        assert_eq!(call["disposition"], "answered", "{provider}: {call}");
        ids.push(call["id"].clone());
        // The agent's wrap-up (0 s) and the phone's binding settle.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_ne!(ids[0], ids[1]);
}

/// Issue 7, outbound registration: a trunk with `register = true`
/// REGISTERs to its provider (SIPp as registrar), answers the 401 with the
/// trunk's credentials (checked by verifyauth) and refreshes before the
/// granted 2 s run out.
#[tokio::test]
async fn trunk_registers_with_digest_auth_and_refreshes() {
    let dir = TempDir::new("sb-sip-trunk-register").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    let provider_port = free_udp_port().await;
    let provider = sipp(sip, provider_port, free_media_port().await, &["-sf", &scenario("provider_registrar.xml")]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, trunk) = voice
        .admin
        .post(
            &format!("/api/v1/workspaces/{}/voice/trunks", voice.ws),
            json!({"name": "Registrar", "host": "127.0.0.1", "port": provider_port, "register": true,
                   "username": "carrier-reg", "password": "reg-pass-1"}),
        )
        .await;
    assert_eq!(status, 201, "{trunk}");
    let (ok, err) = provider.finish(30).await;
    assert!(ok, "REGISTER, 401, REGISTER with valid credentials, 200, refresh: {err}");
    // The trunk API shows it registered until about 10 min from now (the
    // refresh got expires=600).
    let path = format!("/api/v1/workspaces/{}/voice/trunks/{}", voice.ws, trunk["id"]);
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, t) = voice.admin.get(&path).await;
        if t["registration"]["state"] == "registered" && !t["registration"]["expires_at"].is_null() {
            assert!(t["registration"]["last_error"].is_null(), "{t}");
            assert!(!t.to_string().contains("reg-pass-1"), "the password stays write-only: {t}");
            break;
        }
        assert!(tokio::time::Instant::now() < until, "registration status not shown: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A mono 16-bit WAV at `rate` Hz: `secs` of a `freq` Hz tone.
fn tone_wav(rate: u32, freq: f32, secs: f32) -> Vec<u8> {
    let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..(rate as f32 * secs) as u32 {
        let s = (i as f32 * 2.0 * std::f32::consts::PI * freq / rate as f32).sin() * 8000.0;
        w.write_sample(s as i16).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

/// Share of the signal's energy at `freq` (Goertzel; 1.0 = a pure tone).
fn tone_share(x: &[f64], freq: f64) -> f64 {
    let n = x.len() as f64;
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for v in x {
        let s0 = v + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - k * s1 * s2;
    let energy: f64 = x.iter().map(|v| v * v).sum();
    if energy == 0.0 { 0.0 } else { 2.0 * power / (n * energy) }
}

/// Issue 7, uploaded prompts: a file that is not a WAV is refused at IVR
/// save (422 `invalid_prompt_audio`); a 1 kHz tone uploaded as a 16 kHz
/// WAV is the menu's greeting, and the call's recording shows the caller
/// heard it (right channel before any agent: what the caller heard).
#[tokio::test]
async fn ivr_greeting_from_an_uploaded_wav_is_played() {
    let dir = TempDir::new("sb-sip-ivr-wav").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    let ws = voice.ws;
    let (_, convs) = voice.admin.get(&format!("/api/v1/workspaces/{ws}/conversations")).await;
    let conv = convs["data"][0]["id"].as_i64().expect("a demo conversation");
    let upload = |name: &str| format!("/api/v1/workspaces/{ws}/conversations/{conv}/attachments?filename={name}");
    let (status, bad) = voice.admin.raw(reqwest::Method::POST, &upload("bad.wav"), "audio/wav", b"RIFF....not a wav at all".to_vec()).await;
    assert_eq!(status, 201, "{bad}");
    let (status, good) = voice.admin.raw(reqwest::Method::POST, &upload("tone.wav"), "audio/wav", tone_wav(16_000, 1000.0, 3.0)).await;
    assert_eq!(status, 201, "{good}");
    let menu = |attachment: &Value| {
        json!({"name": "Tone", "prompt": {"attachment_id": attachment}, "options": [], "timeout_secs": 1, "max_retries": 0,
               "timeout_action": {"type": "hangup"}})
    };
    let v = |p: &str| format!("/api/v1/workspaces/{ws}/voice/{p}");
    let (status, body) = voice.admin.post(&v("ivr-menus"), menu(&bad["id"])).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_prompt_audio", "{body}");
    let (_, menus) = voice.admin.get(&v("ivr-menus")).await;
    assert!(!menus.to_string().contains("\"Tone\""), "nothing stored: {menus}");
    let (status, created) = voice.admin.post(&v("ivr-menus"), menu(&good["id"])).await;
    assert_eq!(status, 201, "{created}");
    let (status, body) = voice.admin.put(&v(&format!("ivr-menus/{}", created["id"])), menu(&bad["id"])).await;
    assert_eq!(status, 422, "replacing the greeting with a bad file: {body}");
    let (_, numbers) = voice.admin.get(&v("numbers")).await;
    let number_id = numbers["data"][0]["id"].as_i64().expect("number");
    let (status, n) = voice.admin.patch(&v(&format!("numbers/{number_id}")), json!({"ivr_menu_id": created["id"]})).await;
    assert_eq!(status, 200, "{n}");

    // The caller presses 2 (no such option) after 1.5 s; the menu hangs up.
    let digits = NUMBER.trim_start_matches('+');
    let caller = sipp(sip, free_udp_port().await, free_media_port().await, &["-sf", &scenario("caller_waits_for_bye.xml"), "-s", digits]);
    let (ok, err) = caller.finish(40).await;
    assert!(ok, "the menu must hang up: {err}");
    let call = newest_call_until(&voice, 20, |c| !c["recording_attachment_id"].is_null()).await;
    let reader = call_wav(&voice, call["id"].as_i64().unwrap(), "recording").await;
    let samples: Vec<i16> = reader.into_samples::<i16>().map(|s| s.unwrap_or(0)).collect();
    let right: Vec<f64> = samples.chunks_exact(2).map(|f| f[1] as f64).collect();
    let window = right.get(8 * 200..8 * 1200).expect("at least 1.2 s recorded");
    let rms = (window.iter().map(|x| x * x).sum::<f64>() / window.len() as f64).sqrt();
    let share = tone_share(window, 1000.0);
    assert!(rms > 2000.0, "the greeting is silent in the caller's direction (rms {rms:.0})");
    assert!(share > 0.8, "the caller heard something else than the uploaded 1 kHz tone (share {share:.2})");
}

/// Issue 7, SIP over TCP: the customer calls over TCP (SIPp `-t t1`),
/// presses 2, is queued and bridged to Alice's phone (UDP); the CDR is
/// answered by her.
#[tokio::test]
async fn inbound_call_over_tcp_is_answered_by_an_agent() {
    let dir = TempDir::new("sb-sip-tcp").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip_tcp = server.sip_tcp.expect("SIP TCP listening line");
    let agent = alice_phone(&server, &voice).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let digits = NUMBER.trim_start_matches('+');
    // SIPp over TCP binds its local port for TCP too: take one free on both,
    // and try again if another test's connection took it meanwhile (it
    // exits at once, before any call, so the agent's phone is still waiting).
    let mut attempt = 0;
    let (caller_ok, caller_err) = loop {
        attempt += 1;
        let caller = sipp(
            sip_tcp,
            free_udp_and_tcp_port().await,
            free_media_port().await,
            &["-sf", &scenario("caller.xml"), "-s", digits, "-d", "3000", "-t", "t1"],
        );
        let (ok, err) = caller.finish(60).await;
        if ok || attempt == 3 || !err.contains("Address already in use") {
            break (ok, err);
        }
    };
    let (agent_ok, agent_err) = agent.finish(15).await;
    assert!(caller_ok, "caller over TCP: {caller_err}");
    assert!(agent_ok, "agent phone: {agent_err}");
    let call = ended_call(&voice, 20).await;
    assert_eq!(call["direction"], "inbound", "{call}");
    assert_eq!(call["disposition"], "answered", "{call}");
    assert_eq!(call["agent_user_id"].as_i64(), Some(voice.alice), "{call}");
    assert_eq!(call["from_number"], "+380671112233", "{call}");
}

/// Issue 7, a real softphone: baresip registers extension 101 over UDP
/// and answers automatically (`answermode=auto`); a SIPp customer calls,
/// presses 2 and is bridged to it; the CDR is answered by Alice.
#[tokio::test]
async fn baresip_phone_registers_and_auto_answers_a_queued_call() {
    let dir = TempDir::new("sb-sip-baresip").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    let conf = dir.path().join("baresip");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("accounts"),
        format!(
            "<sip:101@{}>;auth_pass={PASSWORD};outbound=\"sip:{sip}\";answermode=auto;regint=300;audio_codecs=PCMA,PCMU\n",
            voice.domain
        ),
    )
    .unwrap();
    // baresip listens on UDP and TCP at its port; a port found free can be
    // taken by another test before baresip binds it, so a phone that could
    // not bind is started again on another port.
    let mut attempt = 0;
    let mut phone = loop {
        attempt += 1;
        let phone_port = free_udp_and_tcp_port().await;
        std::fs::write(
            conf.join("config"),
            format!(
                "sip_listen\t\t127.0.0.1:{phone_port}\nmodule_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\n\
                 module\t\t\taubridge.so\nmodule_app\t\taccount.so\nmodule_app\t\tmenu.so\naudio_source\t\taubridge,loop\n\
                 audio_player\t\taubridge,loop\naudio_alert\t\taubridge,alert\n"
            ),
        )
        .unwrap();
        let mut phone = Command::new("baresip")
            .args(["-f", &conf.display().to_string(), "-t", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn baresip (Debian package baresip)");
        tokio::time::sleep(Duration::from_secs(2)).await;
        if phone.try_wait().ok().flatten().is_none() {
            break phone;
        }
        let mut log = String::new();
        if let Some(mut out) = phone.stdout.take() {
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(Duration::from_secs(1), out.read_to_string(&mut log)).await;
        }
        assert!(attempt < 3 && log.contains("Address already in use"), "baresip exited at start:\n{log}");
    };
    let digits = NUMBER.trim_start_matches('+');
    let caller = sipp(sip, free_udp_port().await, free_media_port().await, &["-sf", &scenario("caller.xml"), "-s", digits, "-d", "3000"]);
    let (caller_ok, caller_err) = caller.finish(60).await;
    let _ = phone.kill().await;
    let mut log = String::new();
    if let Some(mut out) = phone.stdout.take() {
        use tokio::io::AsyncReadExt;
        let _ = tokio::time::timeout(Duration::from_secs(1), out.read_to_string(&mut log)).await;
    }
    assert!(caller_ok, "caller scenario: {caller_err}\nbaresip: {log}");
    let call = ended_call(&voice, 20).await;
    assert_eq!(call["disposition"], "answered", "{call}\nbaresip: {log}");
    assert_eq!(call["agent_user_id"].as_i64(), Some(voice.alice), "{call}");
    assert!(call["talk_ms"].as_i64().unwrap_or(0) >= 2000, "talked until the caller hung up: {call}");
}
