//! The SIP server against real peers (SPEC §3.6, issue 7): SIPp phones
//! register with digest auth; a SIPp customer calls a number, hears the
//! IVR, presses 2, waits in the team queue, a SIPp agent phone rings and
//! answers, audio flows both ways and is recorded; a caller who hangs up
//! in the queue leaves an abandoned call in the missed-calls list; garbage
//! over UDP gets a 400 (or nothing) and the server keeps answering.
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
    let mut cmd = Command::new("sipp");
    cmd.arg(target.to_string())
        .args(["-i", "127.0.0.1", "-p", &local_port.to_string(), "-mp", &media_port.to_string()])
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
/// IVR menu sends 2 to Support; Alice has extension 101.
struct Voice {
    admin: Api,
    ws: i64,
    domain: String,
    alice: i64,
}

async fn setup(server: &Server) -> Voice {
    let admin = server.login("admin@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
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
    Voice { admin, ws, domain, alice }
}

/// Registers extension 101 from `port` with `password`, expecting 200 (or 403).
async fn register(server: &Server, voice: &Voice, port: u16, password: &str, expect_ok: bool) -> (bool, String) {
    let sip = server.sip_udp.expect("SIP listening line");
    let media = free_media_port().await;
    let file = if expect_ok { "register.xml" } else { "register_wrong_password.xml" };
    let run = sipp(
        sip,
        port,
        media,
        &["-sf", &scenario(file), "-s", "101", "-au", "101", "-ap", password, "-key", "domain", &voice.domain],
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

    // Alice's phone registers from `agent_port`, then answers there.
    let agent_port = free_udp_port().await;
    let (ok, err) = register(&server, &voice, agent_port, PASSWORD, true).await;
    assert!(ok, "agent registration: {err}");
    let agent = sipp(sip, agent_port, free_media_port().await, &["-sf", &scenario("agent_phone.xml")]);
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
    let id = call["id"].as_i64().unwrap();
    let resp = voice
        .admin
        .http
        .get(format!("{}/api/v1/workspaces/{}/calls/{id}/recording", voice.admin.base, voice.ws))
        .bearer_auth(voice.admin.token.clone().unwrap_or_default())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let wav = resp.bytes().await.unwrap().to_vec();
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV");
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
    let caller_rms = energy(0, 2500, rec_ms);
    let agent_rms = energy(1, call["wait_ms"].as_i64().unwrap_or(0) + 500, rec_ms);
    assert!(caller_rms > 200.0, "caller channel is silent (rms {caller_rms:.0})");
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

/// Click-to-call: `POST calls` rings the agent's phone, then the customer
/// through the trunk with the number as caller ID; bridged and recorded.
#[tokio::test]
async fn click_to_call_rings_the_agent_then_the_customer() {
    let dir = TempDir::new("sb-sip-c2c").unwrap();
    let server = Server::demo(&dir).await;
    let voice = setup(&server).await;
    let sip = server.sip_udp.expect("SIP listening line");
    let agent_port = free_udp_port().await;
    let (ok, err) = register(&server, &voice, agent_port, PASSWORD, true).await;
    assert!(ok, "agent registration: {err}");
    let agent = sipp(sip, agent_port, free_media_port().await, &["-sf", &scenario("agent_phone.xml")]);
    let customer_port = free_udp_port().await;
    let customer =
        sipp(sip, customer_port, free_media_port().await, &["-sf", &scenario("customer_hangs_up.xml"), "-d", "3000"]);
    let v = |p: &str| format!("/api/v1/workspaces/{}/voice/{p}", voice.ws);
    let (status, trunk) =
        voice.admin.post(&v("trunks"), json!({"name": "Loopback", "host": "127.0.0.1", "port": customer_port})).await;
    assert_eq!(status, 201, "{trunk}");
    let (_, numbers) = voice.admin.get(&v("numbers")).await;
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
    let call = ended_call(&voice, 20).await;
    assert_eq!(call["direction"], "outbound", "{call}");
    assert_eq!(call["disposition"], "answered", "{call}");
    assert_eq!(call["agent_user_id"].as_i64(), Some(voice.alice), "{call}");
    assert_eq!(call["from_number"], NUMBER, "caller ID is the number: {call}");
    assert_eq!(call["to_number"], "+380675554433", "{call}");
    assert!(!call["recording_attachment_id"].is_null(), "{call}");
}
