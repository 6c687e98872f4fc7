//! Click-to-call: an outbound call row (`POST calls`, 202) is dialled here.
//! The agent's phone rings first; when they answer, the customer is called
//! through the workspace's first trunk with the number as caller ID, and
//! the two legs are bridged and recorded (left: agent, right: customer).

use super::media::{LegRole, start_call_media};
use super::{CallEvent, Cmd, Pbx, Pick, token};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::events::EventPayload;
use switchboard_core::voice::{Call, CallDirection, CallDisposition, CallMedia, CallbackRequest, CallbackRequestStatus, CallbackSource};
use switchboard_core::{TeamId, WorkspaceId};
use switchboard_store::{NewCall, NewCallFile};
use switchboard_voice::media::sdp::{self, LocalMedia, NegotiatedMedia, SessionDescription};
use switchboard_voice::sip::{Dialog, Method, Peer, Request, Response, SipMessage, Transport, Uri};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// How long the customer's phone may ring.
const CUSTOMER_RING: Duration = Duration::from_secs(45);
/// A website callback waits this long for a free agent, then fails.
const CALLBACK_PATIENCE: Duration = Duration::from_secs(15 * 60);
/// How often a waiting website callback looks for a free agent.
const CALLBACK_RETRY: Duration = Duration::from_secs(1);

/// Listens for outbound call rows written on this node and dials them.
pub(super) fn spawn_dialer(pbx: Arc<Pbx>) {
    let mut rx = pbx.st.bus.subscribe_own();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if let EventPayload::CallCreated(call) = &ev.payload
                        && call.direction == CallDirection::Outbound
                        && call.ended_at.is_none()
                    {
                        tokio::spawn(click_to_call(pbx.clone(), ev.workspace_id, (**call).clone()));
                    }
                    if let EventPayload::CallbackRequested(req) = &ev.payload
                        && req.source == CallbackSource::Website
                        && req.status == CallbackRequestStatus::Pending
                    {
                        tokio::spawn(website_callback(pbx.clone(), ev.workspace_id, req.clone()));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// A visitor asked to be called back on the website: a free agent of the
/// widget inbox's team (the routing rules' default team for that inbox,
/// else the team of a voice number) is chosen by the team's strategy, then
/// it goes as click-to-call: an outbound call row for that agent, which
/// this dialer rings (agent first, then the visitor through the trunk,
/// with the number as caller ID). The request moves pending → dialing →
/// done (bridged) or failed.
async fn website_callback(pbx: Arc<Pbx>, ws: WorkspaceId, req: CallbackRequest) {
    let status = |s: CallbackRequestStatus, call: Option<switchboard_core::CallId>| {
        let pbx = pbx.clone();
        async move {
            if let Err(e) = pbx.st.store.set_callback_request_status(ws, req.id, s, call).await {
                tracing::warn!(error = %e, "callback request status");
            }
        }
    };
    let numbers = pbx.st.store.list_voice_numbers(ws).await.unwrap_or_default();
    let inbox_team: Option<TeamId> = match req.inbox_id {
        Some(inbox) => pbx.st.store.get_routing_rules(ws).await.ok().and_then(|r| r.inbox_default_team.get(&inbox.0.to_string()).copied()),
        None => None,
    };
    let team = inbox_team.or_else(|| numbers.iter().find_map(|n| n.default_team_id));
    // Caller ID: a number of that team, else any.
    let number = numbers.iter().find(|n| n.default_team_id.is_some() && n.default_team_id == team).or(numbers.first());
    let (Some(team), Some(number)) = (team, number) else {
        tracing::info!(request = %req.id.0, "website callback: no team or no number to call from");
        return status(CallbackRequestStatus::Failed, None).await;
    };
    let give_up = Instant::now() + CALLBACK_PATIENCE;
    let agent = loop {
        match pbx.pick_agents(ws, team, &std::collections::HashSet::new(), None).await {
            Pick::Ring(mut agents) => {
                // Ring-all picks everyone free; one phone is enough here.
                let first = agents.remove(0);
                for other in agents {
                    pbx.release_agent(ws, other.user);
                }
                break first;
            }
            Pick::Nobody | Pick::RoundOver if Instant::now() < give_up => tokio::time::sleep(CALLBACK_RETRY).await,
            Pick::Nobody | Pick::RoundOver => {
                tracing::info!(request = %req.id.0, "website callback: no agent became free");
                return status(CallbackRequestStatus::Failed, None).await;
            }
        }
    };
    // Subscribe before the row exists, so its end is not missed.
    let mut events = pbx.st.bus.subscribe_own();
    let new = NewCall {
        direction: CallDirection::Outbound,
        voice_number_id: number.id,
        remote_number: Some(req.phone.clone()),
        contact_id: None,
        agent_user_id: Some(agent.user),
        sip_call_id: None,
    };
    let call = match pbx.st.store.create_call(ws, new, pbx.st.now()).await {
        Ok(w) => {
            let call = w.value.clone();
            status(CallbackRequestStatus::Dialing, Some(call.id)).await;
            // The dialer (above) hears `call.created` and rings the agent.
            pbx.st.publish(w.events);
            call
        }
        Err(e) => {
            tracing::warn!(error = %e, "website callback: create_call");
            pbx.release_agent(ws, agent.user);
            return status(CallbackRequestStatus::Failed, None).await;
        }
    };
    tracing::info!(request = %req.id.0, call = %call.id.0, agent = %agent.user.0, "website callback: dialling");
    let ended = tokio::time::timeout(Duration::from_secs(3 * 3600), async {
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if let EventPayload::CallEnded(c) = &ev.payload
                        && c.id == call.id
                    {
                        return c.disposition;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Missed events: ask the store instead.
                    if let Ok(Some(c)) = pbx.st.store.get_call(ws, call.id).await
                        && c.ended_at.is_some()
                    {
                        return c.disposition;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let done = ended == Some(CallDisposition::Answered);
    status(if done { CallbackRequestStatus::Done } else { CallbackRequestStatus::Failed }, None).await;
}

/// One outgoing INVITE and its dialog.
struct Leg {
    invite: Request,
    peer: Peer,
    call_id: String,
    local: LocalMedia,
    rx: mpsc::UnboundedReceiver<CallEvent>,
    dialog: Option<Dialog>,
    /// The trunk's username and password, to answer a 401/407.
    credentials: Option<(String, String)>,
    /// Challenges answered so far (one per INVITE; a second means the
    /// credentials are wrong).
    challenges: u32,
}

enum Rung {
    Answered(NegotiatedMedia),
    Failed(CallDisposition),
}

impl Leg {
    fn invite(pbx: &Pbx, target: Uri, peer: Peer, from: String, to: String, local: LocalMedia) -> Leg {
        let call_id = format!("{}@switchboard", token());
        let mut invite = Request::new(Method::Invite, target);
        invite.headers.push("Via", via(pbx, peer));
        invite.headers.push("Max-Forwards", "70");
        invite.headers.push("From", format!("{from};tag={}", token()));
        invite.headers.push("To", to);
        invite.headers.push("Call-ID", call_id.clone());
        invite.headers.push("CSeq", "1 INVITE");
        let contact = pbx.local_addr(peer.transport);
        invite.headers.push("Contact", format!("<sip:switchboard@{contact}>"));
        invite.headers.push("Content-Type", "application/sdp");
        invite.body = sdp::offer(&local).to_sdp_string().into_bytes();
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = pbx.cmd.send(Cmd::Bind { call_id: call_id.clone(), tx });
        let _ = pbx.cmd.send(Cmd::Request { request: invite.clone(), to: peer });
        Leg { invite, peer, call_id, local, rx, dialog: None, credentials: None, challenges: 0 }
    }

    /// The INVITE's CSeq number (2 after a challenge was answered).
    fn seq(&self) -> u32 {
        self.invite.cseq().map(|c| c.seq).unwrap_or(1)
    }

    /// Answers a 401/407 to the INVITE: the same INVITE with CSeq + 1, a
    /// new branch and the digest credentials (RFC 3261 §22.2); the
    /// transaction layer has ACKed the challenge. False when there is
    /// nothing to answer with or this challenge follows our answer.
    fn answer_challenge(&mut self, pbx: &Pbx, response: &Response) -> bool {
        let (header, reply) = match response.status {
            401 => ("WWW-Authenticate", "Authorization"),
            _ => ("Proxy-Authenticate", "Proxy-Authorization"),
        };
        let (Some((user, password)), Some(challenge)) = (&self.credentials, response.headers.get(header)) else { return false };
        if self.challenges > 0 && !switchboard_voice::sip::challenge_is_stale(challenge) {
            tracing::info!(call_id = %self.call_id, status = response.status, "trunk refused our credentials");
            return false;
        }
        self.challenges += 1;
        let uri = self.invite.uri.to_string();
        let value = match switchboard_voice::sip::authorize(challenge, "INVITE", &uri, user, password, &token(), 1) {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(error = %e, "trunk challenge not answerable");
                return false;
            }
        };
        let seq = self.seq() + 1;
        let mut invite = self.invite.clone();
        invite.headers.set("Via", via(pbx, self.peer));
        invite.headers.set("CSeq", format!("{seq} INVITE"));
        invite.headers.remove("Authorization");
        invite.headers.remove("Proxy-Authorization");
        invite.headers.push(reply, value);
        self.invite = invite.clone();
        let _ = pbx.cmd.send(Cmd::Request { request: invite, to: self.peer });
        true
    }

    /// Waits for the final answer until `until`; CANCELs on timeout.
    async fn answered(&mut self, pbx: &Pbx, until: Instant) -> Rung {
        loop {
            match tokio::time::timeout_at(until, self.rx.recv()).await {
                Ok(Some(CallEvent::Response { response })) if response.status < 200 => {}
                Ok(Some(CallEvent::Response { response })) if response.is_success() => {
                    let Ok(dialog) = Dialog::uac(&self.invite, &response) else {
                        return Rung::Failed(CallDisposition::Failed);
                    };
                    let _ = pbx.cmd.send(Cmd::Raw { request: dialog.ack(self.seq(), &via(pbx, self.peer)), to: self.peer });
                    self.dialog = Some(dialog);
                    let negotiated = std::str::from_utf8(&response.body)
                        .ok()
                        .and_then(|s| SessionDescription::parse(s).ok())
                        .and_then(|a| sdp::accept_answer(&a, &self.local).ok());
                    return match negotiated {
                        Some(n) => Rung::Answered(n),
                        None => {
                            self.bye(pbx);
                            Rung::Failed(CallDisposition::Failed)
                        }
                    };
                }
                Ok(Some(CallEvent::Response { response }))
                    if matches!(response.status, 401 | 407) && self.answer_challenge(pbx, &response) => {}
                Ok(Some(CallEvent::Response { response })) => {
                    return Rung::Failed(match response.status {
                        486 | 600 => CallDisposition::Busy,
                        408 | 480 | 487 | 603 => CallDisposition::NoAnswer,
                        _ => CallDisposition::Failed,
                    });
                }
                Ok(Some(CallEvent::Timeout)) | Ok(None) => return Rung::Failed(CallDisposition::Failed),
                Ok(Some(CallEvent::Request { .. })) => {}
                Err(_) => {
                    self.cancel(pbx);
                    return Rung::Failed(CallDisposition::NoAnswer);
                }
            }
        }
    }

    fn cancel(&self, pbx: &Pbx) {
        let mut cancel = Request::new(Method::Cancel, self.invite.uri.clone());
        for name in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
            if let Some(v) = self.invite.headers.get(name) {
                cancel.headers.push(name, v);
            }
        }
        cancel.headers.push("CSeq", format!("{} CANCEL", self.seq()));
        let _ = pbx.cmd.send(Cmd::Request { request: cancel, to: self.peer });
    }

    fn bye(&mut self, pbx: &Pbx) {
        if let Some(d) = self.dialog.as_mut() {
            let bye = d.new_request(Method::Bye, &via(pbx, self.peer));
            let _ = pbx.cmd.send(Cmd::Request { request: bye, to: self.peer });
        }
    }

    /// Resolves to when the far end hangs up (BYE answered here).
    async fn hung_up(&mut self, pbx: &Pbx) {
        while let Some(ev) = self.rx.recv().await {
            if let CallEvent::Request { key, request } = ev {
                if let Some(key) = key {
                    let _ = pbx.cmd.send(Cmd::Respond { key, response: Response::for_request(&request, 200, "OK", None) });
                }
                if request.method == Method::Bye {
                    return;
                }
            }
        }
        std::future::pending::<()>().await;
    }

    fn unbind(&self, pbx: &Pbx) {
        let _ = pbx.cmd.send(Cmd::Unbind { call_id: self.call_id.clone() });
    }
}

pub(super) fn via(pbx: &Pbx, peer: Peer) -> String {
    format!("SIP/2.0/{} {};branch=z9hG4bK{};rport", peer.transport.via_token(), pbx.local_addr(peer.transport), token())
}

/// Ends the row; answers false (the call was not bridged).
async fn end(pbx: &Pbx, ws: WorkspaceId, call: &Call, disposition: CallDisposition) -> bool {
    match pbx.st.store.end_call(ws, call.id, disposition, pbx.st.now()).await {
        Ok(w) => pbx.st.publish(w.events),
        Err(e) => tracing::warn!(error = %e, "end_call (outbound)"),
    }
    tracing::info!(call = %call.id.0, disposition = %disposition.as_str(), "outbound call ended");
    false
}

/// The agent's phone is taken for the whole attempt (the queue does not
/// ring it meanwhile); after a bridged call comes the wrap-up, otherwise
/// it is free at once.
async fn click_to_call(pbx: Arc<Pbx>, ws: WorkspaceId, call: Call) {
    let Some(agent) = call.agent_user_id else {
        end(&pbx, ws, &call, CallDisposition::Failed).await;
        return;
    };
    pbx.hold_agent(ws, agent);
    if !dial(&pbx, ws, call).await {
        pbx.release_agent(ws, agent);
    }
}

/// Rings the agent, then the customer; true when they were bridged.
async fn dial(pbx: &Arc<Pbx>, ws: WorkspaceId, call: Call) -> bool {
    let Some(agent) = call.agent_user_id else { return end(pbx, ws, &call, CallDisposition::Failed).await };
    let settings = pbx.st.store.get_voice_settings(ws).await.unwrap_or_default();
    let domain = settings.sip_domain.clone().unwrap_or_else(|| "switchboard.local".into());
    let ext = match pbx.st.store.extension_of_user(ws, agent).await {
        Ok(Some(e)) => e,
        _ => return end(pbx, ws, &call, CallDisposition::Failed).await,
    };
    let Some((agent_uri, agent_peer)) = pbx.contact_of(ws, &ext.extension) else {
        tracing::info!(call = %call.id.0, "click-to-call: the agent's phone is not registered");
        return end(pbx, ws, &call, CallDisposition::Failed).await;
    };
    let trunk = pbx.st.store.list_sip_trunks(ws).await.ok().and_then(|t| t.into_iter().next());
    let Some(trunk) = trunk else {
        tracing::info!(call = %call.id.0, "click-to-call: no trunk to reach the customer");
        return end(pbx, ws, &call, CallDisposition::Failed).await;
    };
    let trunk_addr: Option<SocketAddr> =
        tokio::net::lookup_host((trunk.host.as_str(), trunk.port)).await.ok().and_then(|mut a| a.find(|a| a.is_ipv4()));
    let Some(trunk_addr) = trunk_addr else { return end(pbx, ws, &call, CallDisposition::Failed).await };
    let trunk_peer = Peer {
        addr: trunk_addr,
        transport: if trunk.transport == switchboard_core::voice::SipTransport::Tcp { Transport::Tcp } else { Transport::Udp },
    };

    // 1. The agent's phone; the customer's number shows as the caller.
    let Ok(leg_a) = pbx.media.open_leg().await else { return end(pbx, ws, &call, CallDisposition::Failed).await };
    let local_a = LocalMedia::new(pbx.advertised_ip, leg_a.local_rtp.port(), rand::random::<u32>().into());
    let customer = call.to_number.clone();
    let user: String = customer.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '+').collect();
    let mut a = Leg::invite(
        pbx,
        agent_uri,
        agent_peer,
        format!("\"Call {user}\" <sip:{user}@{domain}>"),
        format!("<sip:{}@{domain}>", ext.extension),
        local_a,
    );
    tracing::info!(call = %call.id.0, extension = %ext.extension, "click-to-call: ringing the agent");
    let until = Instant::now() + Duration::from_secs(settings.ring_timeout_secs.into());
    let neg_a = match a.answered(pbx, until).await {
        Rung::Answered(n) => n,
        Rung::Failed(d) => {
            a.unbind(pbx);
            return end(pbx, ws, &call, d).await;
        }
    };
    let record = settings.recording.then(|| pbx.work_dir.join("recordings").join(format!("out-{}-{}.wav", ws.0, call.id.0)));
    let (media, _media_rx) = start_call_media(&pbx.media, leg_a, neg_a, record);

    // 2. The customer, through the trunk, with our number as caller ID.
    let tone = ringback();
    media.play(LegRole::Caller, vec![tone], true);
    let leg_b = match pbx.media.open_leg().await {
        Ok(l) => l,
        Err(_) => {
            a.bye(pbx);
            a.unbind(pbx);
            let _ = media.hangup().await;
            return end(pbx, ws, &call, CallDisposition::Failed).await;
        }
    };
    let local_b = LocalMedia::new(pbx.advertised_ip, leg_b.local_rtp.port(), rand::random::<u32>().into());
    let did = call.from_number.clone();
    let target = Uri::parse(&format!("sip:{user}@{}", trunk_addr)).unwrap_or_else(|_| Uri::sip(Some(&user), &trunk.host, Some(trunk.port)));
    let mut b = Leg::invite(
        pbx,
        target,
        trunk_peer,
        format!("<sip:{did}@{}>", pbx.local_addr(trunk_peer.transport)),
        format!("<sip:{user}@{}>", trunk.host),
        local_b,
    );
    b.credentials = trunk.username.clone().zip(trunk.password.clone());
    tracing::info!(call = %call.id.0, "click-to-call: dialling the customer");
    let until = Instant::now() + CUSTOMER_RING;
    let outcome = tokio::select! {
        r = b.answered(pbx, until) => Some(r),
        _ = a.hung_up(pbx) => None,
    };
    let neg_b = match outcome {
        Some(Rung::Answered(n)) => n,
        Some(Rung::Failed(d)) => {
            a.bye(pbx);
            finish(pbx, ws, &call, &media, d, &a, &b).await;
            return false;
        }
        None => {
            b.cancel(pbx);
            finish(pbx, ws, &call, &media, CallDisposition::NoAnswer, &a, &b).await;
            return false;
        }
    };
    media.stop_playback(LegRole::Caller);
    media.attach_agent(leg_b, neg_b);
    match pbx.st.store.answer_call(ws, call.id, Some(agent), pbx.st.now()).await {
        Ok(w) => pbx.st.publish(w.events),
        Err(e) => tracing::warn!(error = %e, "answer_call (outbound)"),
    }
    pbx.agent_in_call(ws, agent).await;
    tracing::info!(call = %call.id.0, "click-to-call: bridged");
    tokio::select! {
        _ = a.hung_up(pbx) => b.bye(pbx),
        _ = b.hung_up(pbx) => a.bye(pbx),
    }
    pbx.agent_call_ended(ws, agent, Duration::from_secs(settings.wrap_up_secs.into())).await;
    finish(pbx, ws, &call, &media, CallDisposition::Answered, &a, &b).await;
    true
}

async fn finish(
    pbx: &Pbx,
    ws: WorkspaceId,
    call: &Call,
    media: &super::media::CallMediaHandle,
    disposition: CallDisposition,
    a: &Leg,
    b: &Leg,
) {
    let summary = media.hangup().await;
    end(pbx, ws, call, disposition).await;
    if let Some(summary) = summary {
        if disposition == CallDisposition::Answered
            && let Ok(data) = tokio::fs::read(&summary.path).await
        {
            let file = NewCallFile {
                filename: format!("call-{}-recording.wav", call.id.0),
                content_type: "audio/wav".into(),
                data,
                access_key: crate::auth::random_secret(),
            };
            match pbx.st.store.attach_call_media(ws, call.id, CallMedia::Recording, file, pbx.st.now()).await {
                Ok(w) => pbx.st.publish(w.events),
                Err(e) => tracing::warn!(error = %e, "attach_call_media (outbound)"),
            }
        }
        let _ = tokio::fs::remove_file(&summary.path).await;
    }
    a.unbind(pbx);
    b.unbind(pbx);
}

/// 425 Hz, 1 s on / 4 s off: what the agent hears while the customer rings.
fn ringback() -> Arc<switchboard_voice::media::prompt::Prompt> {
    let pcm = (0..40_000)
        .map(|i| if i < 8000 { ((i as f32 * 2.0 * std::f32::consts::PI * 425.0 / 8000.0).sin() * 6000.0) as i16 } else { 0 })
        .collect();
    Arc::new(switchboard_voice::media::prompt::Prompt::from_pcm(pcm))
}
