//! One inbound call, from INVITE to the CDR: answer, IVR, queue, ringing
//! agents, the bridge, recording and the end. Runs in its own task; SIP
//! goes through the signaling task (`Cmd`), media through the media plane.

use super::admission::Admission;
use super::media::{CallMediaHandle, LegRole, MediaEvent, MediaLeg, start_call_media};
use super::{CallEvent, Cmd, Pbx, Pick, Ringable, token};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use switchboard_core::voice::{
    CallDirection, CallDisposition, CallMedia, IvrAction, IvrMenuSpec, MaxWaitAction, Prompt as PromptSpec, QueueStep, queue_step,
};
use switchboard_core::{CallId, ContactId, ConversationId, TeamId, UserId, WorkspaceId};
use switchboard_store::{NewCall, NewCallFile, NewCallbackRequest, NumberRoute};
use switchboard_voice::media::prompt::Prompt;
use switchboard_voice::media::recorder::wav_slice_channel;
use switchboard_voice::media::sdp::{self, LocalMedia, SessionDescription};
use switchboard_voice::sip::{Dialog, Method, NameAddr, Peer, Request, Response, SipMessage, TransactionKey, Uri};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a caller sent to voicemail hears before the tone.
const VOICEMAIL_PROMPT: &str = "Please leave a message after the tone.";
/// Longest voicemail message.
const VOICEMAIL_MAX: Duration = Duration::from_secs(60);
/// How often a waiting call looks for a free agent.
const QUEUE_TICK: Duration = Duration::from_millis(500);
/// How long a CANCELled agent leg may take to end (a 200 crossing the
/// CANCEL is ACKed and hung up meanwhile).
const SETTLE: Duration = Duration::from_secs(5);

/// What a waiting call task can be woken by.
#[derive(Debug)]
enum Ev {
    CallerGone,
    Dtmf(char),
    /// A response on agent leg `.0` (an index into `Call::legs`).
    AgentResponse(usize, Response),
    AgentBye(usize),
    AgentTimeout(usize),
    Deadline,
}

/// The caller's side of the call and everything the task needs.
struct Call {
    pbx: Arc<Pbx>,
    ws: WorkspaceId,
    call: CallId,
    serial: u64,
    route: NumberRoute,
    caller_number: String,
    caller_peer: Peer,
    caller_dialog: Dialog,
    caller_call_id: String,
    contact: ContactId,
    conversation: ConversationId,
    /// Agent phones being rung (several for ring-all), or the one talking.
    legs: Vec<AgentLeg>,
    rx: mpsc::UnboundedReceiver<CallEvent>,
    media: CallMediaHandle,
    media_rx: mpsc::Receiver<MediaEvent>,
    /// Our SDP answer, repeated for session-refresh re-INVITEs.
    answer_sdp: String,
    recording: Option<PathBuf>,
    /// When the media task (and so the recording's timeline) started.
    media_started: Instant,
    /// Offset into the recording where the voicemail message starts (the
    /// end of the prompt and tone).
    voicemail_from_ms: Option<u64>,
    caller_gone: bool,
}

/// One agent's phone leg: the INVITE we sent and its events (bound by its
/// own Call-ID).
struct AgentLeg {
    agent: Ringable,
    invite: Request,
    call_id: String,
    local: LocalMedia,
    rtp: Option<MediaLeg>,
    rx: mpsc::UnboundedReceiver<CallEvent>,
    /// The signaling task dropped its sender (unbound).
    closed: bool,
}

/// How the call ended, for the CDR.
enum End {
    /// Connected to this agent.
    Answered,
    Abandoned,
    Missed,
    Voicemail,
}

pub(super) async fn inbound(
    pbx: Arc<Pbx>,
    key: TransactionKey,
    invite: Request,
    from: Peer,
    rx: mpsc::UnboundedReceiver<CallEvent>,
) {
    let call_id = invite.call_id().map(str::to_owned).unwrap_or_default();
    let respond = |code: u16, reason: &str| {
        let _ = pbx.cmd.send(Cmd::Respond { key: key.clone(), response: Response::for_request(&invite, code, reason, Some(&token())) });
        let _ = pbx.cmd.send(Cmd::Unbind { call_id: call_id.clone() });
    };
    let Some(number) = dialled_number(&invite) else {
        respond(404, "Not Found");
        return;
    };
    let route = match pbx.st.store.lookup_number(&number).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            tracing::info!(%number, "INVITE to an unknown number");
            respond(404, "Not Found");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "number lookup");
            respond(500, "Server Internal Error");
            return;
        }
    };
    let ws = route.number.workspace_id;
    let realm = route.settings.sip_domain.clone().unwrap_or_else(|| switchboard_core::voice::default_sip_domain(ws));
    match super::admission::admit(&pbx, ws, &invite, from, &realm).await {
        Admission::Accept => {}
        Admission::Challenge(challenge) => {
            let mut r = Response::for_request(&invite, 407, "Proxy Authentication Required", Some(&token()));
            r.headers.push("Proxy-Authenticate", challenge);
            // Unbound first: the re-sent INVITE (same Call-ID) must start a new task.
            let _ = pbx.cmd.send(Cmd::Unbind { call_id: call_id.clone() });
            let _ = pbx.cmd.send(Cmd::Respond { key: key.clone(), response: r });
            return;
        }
        Admission::Forbidden => {
            tracing::info!(%number, from = %from.addr, "INVITE from no trunk of the number's workspace");
            respond(403, "Forbidden");
            return;
        }
        Admission::Unavailable => {
            respond(500, "Server Internal Error");
            return;
        }
    }
    let offer = std::str::from_utf8(&invite.body).ok().and_then(|s| SessionDescription::parse(s).ok());
    let Some(offer) = offer else {
        // No offer (late offer is not supported) or unreadable SDP.
        respond(488, "Not Acceptable Here");
        return;
    };
    let leg = match pbx.media.open_leg().await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "no RTP port for a call");
            respond(503, "Service Unavailable");
            return;
        }
    };
    let local = LocalMedia::new(pbx.advertised_ip, leg.local_rtp.port(), rand::random::<u32>().into());
    let (answer, negotiated) = match sdp::answer(&offer, &local) {
        Ok(a) => a,
        Err(_) => {
            respond(488, "Not Acceptable Here");
            return;
        }
    };
    let caller_number = caller_number(&invite);
    let new = NewCall {
        direction: CallDirection::Inbound,
        voice_number_id: route.number.id,
        remote_number: Some(caller_number.clone()),
        contact_id: None,
        agent_user_id: None,
        sip_call_id: Some(call_id.clone()),
    };
    let (call, contact_id, conversation_id) = match pbx.st.store.create_call(ws, new, pbx.st.now()).await {
        Ok(w) => {
            let ids = (w.value.id, w.value.contact_id, w.value.conversation_id);
            pbx.st.publish(w.events);
            ids
        }
        Err(e) => {
            tracing::warn!(error = %e, "create_call");
            respond(500, "Server Internal Error");
            return;
        }
    };
    let to_tag = token();
    let contact = contact_of(&pbx, from, route.number.number.trim_start_matches('+'));
    let Ok(dialog) = Dialog::uas(&invite, &to_tag, contact.clone()) else {
        respond(400, "Bad Request");
        let _ = pbx.st.store.end_call(ws, call, CallDisposition::Missed, pbx.st.now()).await;
        return;
    };
    let answer_sdp = answer.to_sdp_string();
    let mut ok = Response::for_request(&invite, 200, "OK", Some(&to_tag));
    ok.headers.push("Contact", contact.to_string());
    ok.headers.push("Allow", super::sip_server::ALLOW);
    ok.headers.push("Content-Type", "application/sdp");
    ok.body = answer_sdp.clone().into_bytes();
    let _ = pbx.cmd.send(Cmd::Respond { key, response: ok });

    // Always recorded: a caller may end in voicemail, which is the
    // recording. Without `recording` only voicemails are kept.
    let recording = Some(pbx.work_dir.join("recordings").join(format!("call-{}-{}.wav", ws.0, call.0)));
    let (media, media_rx) = start_call_media(&pbx.media, leg, negotiated, recording.clone());
    let media_started = Instant::now();
    tracing::info!(workspace = %ws.0, call = %call.0, %number, from = %caller_number, "call answered by the PBX");
    let serial = pbx.new_call_serial();
    let mut c = Call {
        pbx,
        ws,
        call,
        serial,
        route,
        caller_number,
        caller_peer: from,
        caller_dialog: dialog,
        caller_call_id: call_id,
        contact: contact_id,
        conversation: conversation_id,
        legs: Vec::new(),
        rx,
        media,
        media_rx,
        answer_sdp,
        recording,
        media_started,
        voicemail_from_ms: None,
        caller_gone: false,
    };
    let end = c.run().await;
    c.finish(end).await;
}

/// The E.164 number dialled: the Request-URI user, else the To user;
/// `+` optional, visual separators ignored.
fn dialled_number(invite: &Request) -> Option<String> {
    let from_uri = invite.uri.user.clone();
    let from_to = invite.to().ok().and_then(|t| t.uri.user);
    [from_uri, from_to].into_iter().flatten().find_map(|u| e164(&u))
}

fn e164(user: &str) -> Option<String> {
    let user = user.split(';').next().unwrap_or(user);
    let digits: String = user.chars().filter(|c| !matches!(c, '-' | '.' | ' ' | '(' | ')')).collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    (7..=15).contains(&digits.len()).then_some(())?;
    digits.bytes().all(|b| b.is_ascii_digit()).then(|| format!("+{digits}"))
}

/// The caller's number for the CDR: E.164 when it looks like one, else the
/// SIP user (an extension or a name), else "anonymous".
fn caller_number(invite: &Request) -> String {
    let user = invite.from().ok().and_then(|f| f.uri.user);
    match user {
        Some(u) => e164(&u).unwrap_or_else(|| u.chars().take(64).collect()),
        None => "anonymous".to_owned(),
    }
}

fn contact_of(pbx: &Pbx, peer: Peer, user: &str) -> NameAddr {
    let addr = pbx.local_addr(peer.transport);
    let transport = match peer.transport {
        switchboard_voice::sip::Transport::Tcp => ";transport=tcp",
        _ => "",
    };
    let text = format!("<sip:{user}@{}{transport}>", fmt_addr(addr));
    NameAddr::parse(&text).unwrap_or_else(|_| NameAddr::new(Uri::sip(Some(user), &addr.ip().to_string(), Some(addr.port()))))
}

fn fmt_addr(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

fn via(pbx: &Pbx, peer: Peer) -> String {
    format!("SIP/2.0/{} {};branch=z9hG4bK{};rport", peer.transport.via_token(), fmt_addr(pbx.local_addr(peer.transport)), token())
}

/// A short 1 kHz beep before voicemail recording.
fn beep() -> Arc<Prompt> {
    let pcm = (0..2400).map(|i| ((i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 8000.0).sin() * 8000.0) as i16).collect();
    Arc::new(Prompt::from_pcm(pcm))
}

impl Call {
    async fn run(&mut self) -> End {
        let mut next = match self.route.menu.clone() {
            Some(menu) => self.ivr(menu.spec).await,
            None => match self.route.number.default_team_id {
                Some(team) => IvrAction::Queue { team_id: team },
                None => IvrAction::Voicemail,
            },
        };
        loop {
            next = match next {
                IvrAction::Queue { team_id } => return self.queue(team_id).await,
                IvrAction::Voicemail => return self.voicemail().await,
                IvrAction::Hangup => {
                    if self.caller_gone {
                        return End::Abandoned;
                    }
                    self.bye_caller();
                    return End::Missed;
                }
                IvrAction::Menu { menu_id } => match self.pbx.st.store.get_ivr_menu(self.ws, menu_id).await {
                    Ok(Some(menu)) => self.ivr(menu.spec).await,
                    _ => IvrAction::Hangup,
                },
            };
            if self.caller_gone {
                return End::Abandoned;
            }
        }
    }

    /// Plays a menu, collects one key, returns what to do next. A key
    /// pressed during the prompt counts (barge-in).
    async fn ivr(&mut self, spec: IvrMenuSpec) -> IvrAction {
        let mut retries = 0;
        let mut invalid = false;
        loop {
            let prompt_spec = if invalid { spec.invalid_prompt.as_ref().unwrap_or(&spec.prompt) } else { &spec.prompt };
            let prompt = self.prompt(prompt_spec).await;
            let prompt_len = prompt.as_ref().map_or(0, |p| p.duration_ms());
            if let Some(p) = prompt {
                self.media.play(LegRole::Caller, vec![p], false);
            }
            let deadline = Instant::now() + Duration::from_millis(prompt_len) + Duration::from_secs(spec.timeout_secs.into());
            match self.next(Some(deadline)).await {
                Ev::CallerGone => return IvrAction::Hangup,
                Ev::Dtmf(d) => {
                    self.media.stop_playback(LegRole::Caller);
                    if let Some(o) = spec.options.iter().find(|o| o.digit.starts_with(d)) {
                        tracing::info!(call = %self.call.0, digit = %d, "IVR choice");
                        return o.action.clone();
                    }
                    invalid = true;
                }
                _ => invalid = false,
            }
            retries += 1;
            if retries > spec.max_retries {
                return spec.timeout_action.clone();
            }
        }
    }

    async fn prompt(&self, spec: &PromptSpec) -> Option<Arc<Prompt>> {
        match spec {
            PromptSpec::Tts { tts, voice } => self.tts(tts, voice).await,
            PromptSpec::Audio { attachment_id } => self.uploaded(*attachment_id).await,
        }
    }

    /// An uploaded prompt file. One that is gone or not a readable WAV
    /// plays nothing (logged): the caller still gets the menu's keys and
    /// timeout rather than a dropped call.
    async fn uploaded(&self, id: switchboard_core::AttachmentId) -> Option<Arc<Prompt>> {
        let (store, ws) = (&self.pbx.st.store, self.ws);
        let load = || async move {
            match store.prompt_file(ws, id).await {
                Ok(Some(f)) => Ok(f.data),
                Ok(None) => Err(super::tts::TtsError::File(format!("attachment {} does not exist", id.0))),
                Err(e) => Err(super::tts::TtsError::File(e.to_string())),
            }
        };
        match self.pbx.prompts.attachment(ws.0, id.0, load).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(call = %self.call.0, attachment = %id.0, error = %e, "uploaded prompt not playable; skipped");
                None
            }
        }
    }

    async fn tts(&self, text: &str, voice: &str) -> Option<Arc<Prompt>> {
        match self.pbx.prompts.tts(text, voice).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "text-to-speech failed");
                None
            }
        }
    }

    /// The announcement a waiting caller hears.
    async fn announcement(&self, position: usize) -> Vec<Arc<Prompt>> {
        let mut out = Vec::new();
        let text = if position <= 1 {
            "All our agents are busy. You are next in the queue.".to_owned()
        } else {
            format!("All our agents are busy. You are number {position} in the queue.")
        };
        out.extend(self.tts(&text, "en").await);
        if let Some(msg) = self.route.settings.other_channels_message.clone() {
            out.extend(self.tts(&msg, "en").await);
        }
        out
    }

    async fn queue(&mut self, team: TeamId) -> End {
        if let Ok(w) = self.pbx.st.store.set_call_team(self.ws, self.call, Some(team), self.pbx.st.now()).await {
            self.pbx.st.publish(w.events);
        }
        let settings = self.route.settings.clone();
        if settings.max_wait_action == MaxWaitAction::Voicemail {
            // Rendered while the caller waits, so the prompt plays the
            // moment the wait runs out (espeak on a busy machine can take
            // seconds, and a caller who hears nothing hangs up).
            let pbx = self.pbx.clone();
            tokio::spawn(async move {
                if let Err(e) = pbx.prompts.tts(VOICEMAIL_PROMPT, "en").await {
                    tracing::warn!(error = %e, "voicemail prompt not rendered ahead");
                }
            });
        }
        // Sticky teams give a returning caller to the agent who served them.
        let previous = self.pbx.st.store.previous_assignee(self.ws, self.contact, self.conversation).await.ok().flatten();
        let entered = Instant::now();
        let mut position = self.pbx.enqueue(self.ws, team, self.serial);
        let mut announced_at = Instant::now();
        let prompts = self.announcement(position).await;
        if !prompts.is_empty() {
            self.media.play(LegRole::Caller, prompts, false);
        }
        let mut tried: HashSet<UserId> = HashSet::new();
        let end = loop {
            let waited = entered.elapsed().as_millis() as u64;
            let since = announced_at.elapsed().as_millis() as u64;
            let wait = match queue_step(&settings, waited, since, QUEUE_TICK.as_millis() as u64) {
                QueueStep::GiveUp => {
                    self.pbx.dequeue(self.ws, team, self.serial);
                    break self.max_wait(settings.max_wait_action).await;
                }
                QueueStep::Announce => {
                    announced_at = Instant::now();
                    let prompts = self.announcement(position).await;
                    if !prompts.is_empty() {
                        self.media.play(LegRole::Caller, prompts, false);
                    }
                    continue;
                }
                QueueStep::Wait { for_ms } => Duration::from_millis(for_ms),
            };
            position = self.pbx.position(self.ws, team, self.serial);
            if position == 1 {
                match self.pbx.pick_agents(self.ws, team, &tried, previous).await {
                    Pick::Ring(agents) => {
                        tried.extend(agents.iter().map(|a| a.user));
                        match self.ring(agents).await {
                            Ring::Answered(ad) => {
                                self.pbx.dequeue(self.ws, team, self.serial);
                                break self.bridged(*ad).await;
                            }
                            Ring::CallerGone => break End::Abandoned,
                            // Ring the next phone (per strategy) at once.
                            Ring::NoAnswer => continue,
                        }
                    }
                    // Everyone was rung once: rest one tick, then again.
                    Pick::RoundOver => tried.clear(),
                    Pick::Nobody => {}
                }
            }
            if let Ev::CallerGone = self.next(Some(Instant::now() + wait)).await {
                break End::Abandoned;
            }
        };
        self.pbx.dequeue(self.ws, team, self.serial);
        end
    }

    async fn max_wait(&mut self, action: MaxWaitAction) -> End {
        tracing::info!(call = %self.call.0, action = %action.as_str(), "max queue wait reached");
        match action {
            MaxWaitAction::Voicemail => self.voicemail().await,
            MaxWaitAction::Callback => {
                let req = NewCallbackRequest {
                    phone: self.caller_number.clone(),
                    name: None,
                    source: switchboard_core::voice::CallbackSource::Queue,
                    call_id: Some(self.call),
                    inbox_id: Some(self.route.number.inbox_id),
                };
                match self.pbx.st.store.create_callback_request(self.ws, req, self.pbx.st.now()).await {
                    Ok(w) => self.pbx.st.publish(w.events),
                    Err(e) => tracing::warn!(error = %e, "create_callback_request"),
                }
                self.say_and_hang_up("Sorry to keep you waiting. We will call you back as soon as an agent is free. Goodbye.").await
            }
            MaxWaitAction::Hangup => self.say_and_hang_up("Sorry, all our agents are still busy. Please call again later. Goodbye.").await,
        }
    }

    async fn say_and_hang_up(&mut self, text: &str) -> End {
        let len = match self.tts(text, "en").await {
            Some(p) => {
                let ms = p.duration_ms();
                self.media.play(LegRole::Caller, vec![p], false);
                ms
            }
            None => 0,
        };
        let deadline = Instant::now() + Duration::from_millis(len + 300);
        loop {
            match self.next(Some(deadline)).await {
                // Heard it (or most of it): still a missed call to return.
                Ev::CallerGone => return End::Missed,
                Ev::Deadline => break,
                _ => {}
            }
        }
        self.bye_caller();
        End::Missed
    }

    /// Records a message after the tone: up to a minute, until the caller
    /// hangs up or presses '#'. The caller's channel of the call's
    /// recording from the end of the tone becomes the voicemail.
    async fn voicemail(&mut self) -> End {
        let mut prompts: Vec<Arc<Prompt>> = self.tts(VOICEMAIL_PROMPT, "en").await.into_iter().collect();
        prompts.push(beep());
        let len: u64 = prompts.iter().map(|p| p.duration_ms()).sum();
        self.media.play(LegRole::Caller, prompts, false);
        // The recording's timeline is wall-clock time since the media task
        // started; the message starts when the tone ends.
        self.voicemail_from_ms = Some(self.media_started.elapsed().as_millis() as u64 + len);
        let deadline = Instant::now() + Duration::from_millis(len) + VOICEMAIL_MAX;
        loop {
            match self.next(Some(deadline)).await {
                Ev::CallerGone => return End::Voicemail,
                Ev::Deadline | Ev::Dtmf('#') => break,
                _ => {}
            }
        }
        self.bye_caller();
        End::Voicemail
    }

    /// Sends an INVITE to one agent's phone; the leg joins `self.legs`.
    async fn invite_agent(&mut self, agent: Ringable) -> bool {
        let rtp = match self.pbx.media.open_leg().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port for the agent leg");
                return false;
            }
        };
        let local = LocalMedia::new(self.pbx.advertised_ip, rtp.local_rtp.port(), rand::random::<u32>().into());
        let offer = sdp::offer(&local).to_sdp_string();
        let call_id = format!("{}@switchboard", token());
        let domain = self.route.settings.sip_domain.clone().unwrap_or_else(|| "switchboard.local".to_owned());
        let mut invite = Request::new(Method::Invite, agent.uri.clone());
        invite.headers.push("Via", via(&self.pbx, agent.peer));
        invite.headers.push("Max-Forwards", "70");
        let display = self.caller_number.replace('"', "");
        let from_user: String = self.caller_number.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '+').collect();
        let from_user = if from_user.is_empty() { "anonymous".to_owned() } else { from_user };
        invite.headers.push("From", format!("\"{display}\" <sip:{from_user}@{domain}>;tag={}", token()));
        invite.headers.push("To", format!("<sip:{}@{domain}>", agent.extension));
        invite.headers.push("Call-ID", call_id.clone());
        invite.headers.push("CSeq", "1 INVITE");
        invite.headers.push("Contact", contact_of(&self.pbx, agent.peer, "switchboard").to_string());
        invite.headers.push("Allow", super::sip_server::ALLOW);
        invite.headers.push("Content-Type", "application/sdp");
        invite.body = offer.into_bytes();
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.pbx.cmd.send(Cmd::Bind { call_id: call_id.clone(), tx });
        let _ = self.pbx.cmd.send(Cmd::Request { request: invite.clone(), to: agent.peer });
        tracing::info!(call = %self.call.0, agent = %agent.user.0, extension = %agent.extension, "ringing agent");
        self.legs.push(AgentLeg { agent, invite, call_id, local, rtp: Some(rtp), rx, closed: false });
        true
    }

    /// Rings the agents' phones at once (one, or all for ring-all) until
    /// one answers (the others are CANCELled), all refuse, or the ring
    /// timeout (all CANCELled).
    async fn ring(&mut self, agents: Vec<Ringable>) -> Ring {
        for agent in agents {
            let (ws, user) = (self.ws, agent.user);
            if !self.invite_agent(agent).await {
                self.pbx.release_agent(ws, user);
            }
        }
        if self.legs.is_empty() {
            return Ring::NoAnswer;
        }
        let deadline = Instant::now() + Duration::from_secs(self.route.settings.ring_timeout_secs.into());
        loop {
            match self.next(Some(deadline)).await {
                Ev::AgentResponse(i, r) if r.status >= 200 && is_invite_response(&r) => {
                    if r.is_success()
                        && let Some(ad) = self.take_answer(i, &r)
                    {
                        // First 200 wins: the others stop ringing.
                        for leg in std::mem::take(&mut self.legs) {
                            settle(self.pbx.clone(), self.ws, leg, true);
                        }
                        self.legs.push(ad.1);
                        return Ring::Answered(Box::new(ad.0));
                    }
                    if !r.is_success() {
                        tracing::info!(call = %self.call.0, agent = %self.legs[i].agent.user.0, status = r.status, "agent did not take the call");
                        let leg = self.legs.remove(i);
                        settle(self.pbx.clone(), self.ws, leg, false);
                    }
                    if self.legs.is_empty() {
                        return Ring::NoAnswer;
                    }
                }
                Ev::AgentTimeout(i) => {
                    let leg = self.legs.remove(i);
                    settle(self.pbx.clone(), self.ws, leg, false);
                    if self.legs.is_empty() {
                        return Ring::NoAnswer;
                    }
                }
                Ev::CallerGone => {
                    for leg in std::mem::take(&mut self.legs) {
                        settle(self.pbx.clone(), self.ws, leg, true);
                    }
                    return Ring::CallerGone;
                }
                Ev::Deadline => {
                    for leg in std::mem::take(&mut self.legs) {
                        tracing::info!(call = %self.call.0, agent = %leg.agent.user.0, "ring timeout");
                        settle(self.pbx.clone(), self.ws, leg, true);
                    }
                    return Ring::NoAnswer;
                }
                Ev::AgentResponse(..) | Ev::Dtmf(_) | Ev::AgentBye(_) => {}
            }
        }
    }

    /// Leg `i` answered with `ok`: ACK, media bridged. `None` (the leg is
    /// hung up and dropped) when the answer has no usable media.
    fn take_answer(&mut self, i: usize, ok: &Response) -> Option<(AgentDialog, AgentLeg)> {
        let mut leg = self.legs.remove(i);
        let peer = leg.agent.peer;
        let Ok(mut dialog) = Dialog::uac(&leg.invite, ok) else {
            settle(self.pbx.clone(), self.ws, leg, false);
            return None;
        };
        let _ = dialog.on_response(ok);
        let ack = dialog.ack(1, &via(&self.pbx, peer));
        let _ = self.pbx.cmd.send(Cmd::Raw { request: ack, to: peer });
        let negotiated = std::str::from_utf8(&ok.body)
            .ok()
            .and_then(|s| SessionDescription::parse(s).ok())
            .and_then(|a| sdp::accept_answer(&a, &leg.local).ok());
        let (Some(negotiated), Some(rtp)) = (negotiated, leg.rtp.take()) else {
            // Answered without usable media: hang it up.
            let bye = dialog.new_request(Method::Bye, &via(&self.pbx, peer));
            let _ = self.pbx.cmd.send(Cmd::Request { request: bye, to: peer });
            settle(self.pbx.clone(), self.ws, leg, false);
            return None;
        };
        self.media.stop_playback(LegRole::Caller);
        self.media.attach_agent(rtp, negotiated);
        Some((AgentDialog { dialog, peer, agent: leg.agent.clone() }, leg))
    }

    fn drop_agent_legs(&mut self) {
        for leg in self.legs.drain(..) {
            let _ = self.pbx.cmd.send(Cmd::Unbind { call_id: leg.call_id });
        }
    }

    /// Caller and agent talk until one hangs up.
    async fn bridged(&mut self, mut ad: AgentDialog) -> End {
        let agent = ad.agent.user;
        match self.pbx.st.store.answer_call(self.ws, self.call, Some(agent), self.pbx.st.now()).await {
            Ok(w) => self.pbx.st.publish(w.events),
            Err(e) => tracing::warn!(error = %e, "answer_call"),
        }
        self.pbx.agent_in_call(self.ws, agent).await;
        tracing::info!(call = %self.call.0, agent = %agent.0, "bridged");
        loop {
            match self.next(None).await {
                Ev::CallerGone => {
                    let bye = ad.dialog.new_request(Method::Bye, &via(&self.pbx, ad.peer));
                    let _ = self.pbx.cmd.send(Cmd::Request { request: bye, to: ad.peer });
                    // Let the BYE's transaction run; the agent's 200 needs no
                    // handling, and the Call-ID is unbound in `finish`.
                    break;
                }
                // The one leg left is the bridged agent's.
                Ev::AgentBye(0) => {
                    self.bye_caller();
                    break;
                }
                Ev::AgentResponse(_, r) if r.is_success() && is_invite_response(&r) => {
                    // Our ACK was lost: the 2xx is retransmitted; ACK again.
                    let ack = ad.dialog.ack(1, &via(&self.pbx, ad.peer));
                    let _ = self.pbx.cmd.send(Cmd::Raw { request: ack, to: ad.peer });
                }
                _ => {}
            }
        }
        self.media.detach_agent();
        let wrap_up = Duration::from_secs(self.route.settings.wrap_up_secs.into());
        self.pbx.agent_call_ended(self.ws, agent, wrap_up).await;
        End::Answered
    }

    /// Hangs up on the caller (once).
    fn bye_caller(&mut self) {
        if self.caller_gone {
            return;
        }
        self.caller_gone = true;
        let bye = self.caller_dialog.new_request(Method::Bye, &via(&self.pbx, self.caller_peer));
        let _ = self.pbx.cmd.send(Cmd::Request { request: bye, to: self.caller_peer });
    }

    async fn finish(mut self, end: End) {
        self.media.stop_playback(LegRole::Caller);
        let summary = self.media.hangup().await;
        let (disposition, media_kind) = match end {
            End::Answered => (CallDisposition::Answered, CallMedia::Recording),
            End::Abandoned => (CallDisposition::Abandoned, CallMedia::Recording),
            End::Missed => (CallDisposition::Missed, CallMedia::Recording),
            End::Voicemail => (CallDisposition::Voicemail, CallMedia::Voicemail),
        };
        let now = self.pbx.st.now();
        match self.pbx.st.store.end_call(self.ws, self.call, disposition, now).await {
            Ok(w) => self.pbx.st.publish(w.events),
            Err(e) => tracing::warn!(error = %e, "end_call"),
        }
        let keep = media_kind == CallMedia::Voicemail || self.route.settings.recording;
        if let Some(summary) = summary {
            match tokio::fs::read(&summary.path).await {
                Ok(data) if !data.is_empty() && keep => {
                    if media_kind == CallMedia::Voicemail {
                        // Only the message: the caller's channel from the end
                        // of the tone (mono, 8 kHz).
                        let from = self.voicemail_from_ms.unwrap_or(0);
                        let to = from.saturating_add(VOICEMAIL_MAX.as_millis() as u64).min(summary.duration_ms.max(from));
                        match wav_slice_channel(&data, 0, from, to) {
                            Ok(_) if to <= from => tracing::info!(call = %self.call.0, "caller hung up before the tone: no message"),
                            Ok(message) => self.attach(CallMedia::Voicemail, message).await,
                            Err(e) => tracing::warn!(error = %e, path = %summary.path.display(), "cutting the voicemail"),
                        }
                    }
                    if self.route.settings.recording {
                        self.attach(CallMedia::Recording, data).await;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, path = %summary.path.display(), "reading the recording"),
            }
            let _ = tokio::fs::remove_file(&summary.path).await;
        } else if let Some(path) = &self.recording {
            let _ = tokio::fs::remove_file(path).await;
        }
        // Keep the caller's Call-ID bound a little longer so a retransmitted
        // BYE still finds a 200 (the transaction layer answers those).
        let _ = self.pbx.cmd.send(Cmd::Unbind { call_id: self.caller_call_id.clone() });
        self.drop_agent_legs();
        tracing::info!(call = %self.call.0, disposition = %disposition.as_str(), "call ended");
    }

    /// Stores `data` (a WAV) as the call's `kind` attachment.
    async fn attach(&self, kind: CallMedia, data: Vec<u8>) {
        let file = NewCallFile {
            filename: format!("call-{}-{}.wav", self.call.0, kind.as_str()),
            content_type: "audio/wav".into(),
            data,
            access_key: crate::auth::random_secret(),
        };
        match self.pbx.st.store.attach_call_media(self.ws, self.call, kind, file, self.pbx.st.now()).await {
            Ok(w) => self.pbx.st.publish(w.events),
            Err(e) => tracing::warn!(error = %e, "attach_call_media"),
        }
    }

    /// The next event that matters; handles the ones that need only a reply
    /// (ACK, in-dialog OPTIONS/INFO, re-INVITE).
    async fn next(&mut self, deadline: Option<Instant>) -> Ev {
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or(far));
        tokio::pin!(sleep);
        loop {
            let raw = {
                let Call { rx, legs, media_rx, .. } = self;
                // Whichever agent leg has an event first.
                let agent = std::future::poll_fn(|cx| {
                    for (i, leg) in legs.iter_mut().enumerate() {
                        if leg.closed {
                            continue;
                        }
                        if let Poll::Ready(ev) = leg.rx.poll_recv(cx) {
                            return Poll::Ready((i, ev));
                        }
                    }
                    Poll::Pending
                });
                tokio::select! {
                    _ = &mut sleep => Raw::Deadline,
                    e = rx.recv() => Raw::Caller(e),
                    (i, e) = agent => Raw::Agent(i, e),
                    m = media_rx.recv() => Raw::Media(m),
                }
            };
            match raw {
                Raw::Deadline => return Ev::Deadline,
                Raw::Caller(Some(e)) => {
                    if let Some(ev) = self.caller_event(e) {
                        return ev;
                    }
                }
                Raw::Caller(None) => return Ev::CallerGone,
                Raw::Agent(i, Some(CallEvent::Response { response })) => return Ev::AgentResponse(i, response),
                Raw::Agent(i, Some(CallEvent::Timeout)) => return Ev::AgentTimeout(i),
                Raw::Agent(i, Some(CallEvent::Request { key, request })) => {
                    if let Some(ev) = self.agent_request(i, key, request) {
                        return ev;
                    }
                }
                Raw::Agent(i, None) => self.legs[i].closed = true,
                Raw::Media(Some(MediaEvent::Dtmf { leg: LegRole::Caller, digit })) => return Ev::Dtmf(digit),
                Raw::Media(Some(MediaEvent::RtpTimeout { leg: LegRole::Caller })) => {
                    tracing::info!(call = %self.call.0, "no RTP from the caller: hanging up");
                    self.bye_caller();
                    return Ev::CallerGone;
                }
                Raw::Media(Some(MediaEvent::RtpTimeout { leg: LegRole::Agent })) => {
                    if let Some(ev) = self.agent_rtp_timeout() {
                        return ev;
                    }
                }
                Raw::Media(Some(_)) => {}
                // The media plane is gone; nothing more can be heard.
                Raw::Media(None) => return Ev::CallerGone,
            }
        }
    }

    fn agent_rtp_timeout(&mut self) -> Option<Ev> {
        // Only a bridged agent sends RTP; then it is the one leg left.
        (self.legs.len() == 1).then_some(())?;
        tracing::info!(call = %self.call.0, "no RTP from the agent: ending the call");
        Some(Ev::AgentBye(0))
    }

    fn caller_event(&mut self, e: CallEvent) -> Option<Ev> {
        let CallEvent::Request { key, request } = e else {
            // Responses to our BYE / Timeouts on the caller leg.
            return None;
        };
        let reply = |code: u16, reason: &str| Response::for_request(&request, code, reason, None);
        match request.method {
            Method::Ack => None,
            Method::Bye => {
                if let Some(key) = key {
                    let _ = self.pbx.cmd.send(Cmd::Respond { key, response: reply(200, "OK") });
                }
                self.caller_gone = true;
                Some(Ev::CallerGone)
            }
            Method::Cancel => {
                // We answer at once, so a CANCEL always comes too late to
                // cancel the INVITE; the caller will BYE (RFC 3261 §9.2).
                if let Some(key) = key {
                    let _ = self.pbx.cmd.send(Cmd::Respond { key, response: reply(200, "OK") });
                }
                None
            }
            Method::Info => {
                let digit = dtmf_in_info(&request.body);
                if let Some(key) = key {
                    let _ = self.pbx.cmd.send(Cmd::Respond { key, response: reply(200, "OK") });
                }
                digit.map(Ev::Dtmf)
            }
            Method::Invite => {
                // Session refresh or hold: keep our answer as it is.
                if let Some(key) = key {
                    let mut ok = reply(200, "OK");
                    if let Some(to) = request.headers.get("To") {
                        ok.headers.set("To", to);
                    }
                    if let Some(c) = self.caller_dialog.local_contact.clone() {
                        ok.headers.push("Contact", c.to_string());
                    }
                    ok.headers.push("Content-Type", "application/sdp");
                    ok.body = self.answer_sdp.clone().into_bytes();
                    let _ = self.pbx.cmd.send(Cmd::Respond { key, response: ok });
                }
                None
            }
            _ => {
                if let Some(key) = key {
                    let _ = self.pbx.cmd.send(Cmd::Respond { key, response: reply(200, "OK") });
                }
                None
            }
        }
    }

    fn agent_request(&mut self, leg: usize, key: Option<TransactionKey>, request: Request) -> Option<Ev> {
        let reply = |code: u16, reason: &str| Response::for_request(&request, code, reason, None);
        match request.method {
            Method::Ack => None,
            Method::Bye => {
                if let Some(key) = key {
                    let _ = self.pbx.cmd.send(Cmd::Respond { key, response: reply(200, "OK") });
                }
                Some(Ev::AgentBye(leg))
            }
            _ => {
                if let Some(key) = key {
                    let _ = self.pbx.cmd.send(Cmd::Respond { key, response: reply(200, "OK") });
                }
                None
            }
        }
    }
}

/// The agent leg once answered.
struct AgentDialog {
    dialog: Dialog,
    peer: Peer,
    agent: Ringable,
}

enum Raw {
    Deadline,
    Caller(Option<CallEvent>),
    Agent(usize, Option<CallEvent>),
    Media(Option<MediaEvent>),
}

enum Ring {
    Answered(Box<AgentDialog>),
    CallerGone,
    NoAnswer,
}

fn is_invite_response(r: &Response) -> bool {
    r.cseq().is_ok_and(|c| c.method == Method::Invite)
}

fn cancel(pbx: &Pbx, invite: &Request, to: Peer) {
    let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
    for name in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
        if let Some(v) = invite.headers.get(name) {
            cancel.headers.push(name, v);
        }
    }
    cancel.headers.push("CSeq", "1 CANCEL");
    let _ = pbx.cmd.send(Cmd::Request { request: cancel, to });
}

/// Ends an agent leg that lost (ring timeout, another phone answered,
/// refused) in its own task, so the call moves on at once: CANCEL if
/// `cancel_it`, ACK + BYE for a 200 that crosses the CANCEL, then unbind
/// and free the agent for other calls.
fn settle(pbx: Arc<Pbx>, ws: WorkspaceId, mut leg: AgentLeg, cancel_it: bool) {
    if cancel_it {
        cancel(&pbx, &leg.invite, leg.agent.peer);
    }
    tokio::spawn(async move {
        let peer = leg.agent.peer;
        let until = Instant::now() + if cancel_it { SETTLE } else { Duration::ZERO };
        let mut hung_up = false;
        while let Ok(Some(ev)) = tokio::time::timeout_at(until, leg.rx.recv()).await {
            match ev {
                CallEvent::Response { response } if is_invite_response(&response) && response.is_success() => {
                    if hung_up {
                        continue;
                    }
                    hung_up = true;
                    if let Ok(mut d) = Dialog::uac(&leg.invite, &response) {
                        let _ = pbx.cmd.send(Cmd::Raw { request: d.ack(1, &via(&pbx, peer)), to: peer });
                        let bye = d.new_request(Method::Bye, &via(&pbx, peer));
                        let _ = pbx.cmd.send(Cmd::Request { request: bye, to: peer });
                    }
                }
                CallEvent::Response { response } if is_invite_response(&response) && response.status >= 200 => break,
                CallEvent::Response { response } if response.cseq().is_ok_and(|c| c.method == Method::Bye) => break,
                CallEvent::Request { key: Some(key), request } => {
                    let _ = pbx.cmd.send(Cmd::Respond { key, response: Response::for_request(&request, 200, "OK", None) });
                }
                CallEvent::Timeout => break,
                _ => {}
            }
        }
        let _ = pbx.cmd.send(Cmd::Unbind { call_id: leg.call_id.clone() });
        pbx.release_agent(ws, leg.agent.user);
    });
}

/// `Signal=5` of an application/dtmf-relay INFO body.
fn dtmf_in_info(body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("signal") {
            return None;
        }
        v.trim().chars().next().filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        assert_eq!(e164("380441234567").as_deref(), Some("+380441234567"));
        assert_eq!(e164("+380441234567").as_deref(), Some("+380441234567"));
        assert_eq!(e164("+38-044-123-45-67").as_deref(), Some("+380441234567"));
        assert_eq!(e164("101"), None);
        assert_eq!(e164("alice"), None);
    }

    #[test]
    fn info_dtmf() {
        assert_eq!(dtmf_in_info(b"Signal=2\r\nDuration=160\r\n"), Some('2'));
        assert_eq!(dtmf_in_info(b"Duration=160\r\n"), None);
    }
}
