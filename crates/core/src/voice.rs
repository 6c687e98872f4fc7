//! Voice vocabulary and its pure rules (SPEC §3.6): call records (CDRs) and
//! their dispositions, per-workspace voice settings, IVR menus, SIP
//! extensions, numbers and trunks as the API accepts them.
//!
//! Nothing here speaks SIP: the protocol lives in `switchboard-voice`; this
//! module decides what the store keeps and what a valid configuration is,
//! so the API, the store and the SIP engine agree on one set of rules.

use crate::ids::*;
use crate::time::Timestamp;
use crate::validate::{self, ValidationError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

string_enum!(
    /// Who started the call: the customer (inbound) or us (outbound).
    CallDirection { Inbound => "inbound", Outbound => "outbound" }
);

string_enum!(
    /// How a call ended. `answered`: connected to an agent (inbound) or the
    /// callee picked up (outbound); `abandoned`: the caller hung up before
    /// anyone answered (in the IVR or the queue); `missed`: nobody answered
    /// and the system ended the call (max wait reached, no agent, hangup
    /// action); `voicemail`: the caller left a message; `failed`, `busy`,
    /// `no_answer`: outcomes of dialing out (or a trunk error).
    CallDisposition {
        Answered => "answered", Abandoned => "abandoned", Missed => "missed", Voicemail => "voicemail",
        Failed => "failed", Busy => "busy", NoAnswer => "no_answer",
    }
);

string_enum!(
    /// The follow-up of an unanswered inbound call in the missed-calls list.
    CallbackStatus { Pending => "pending", Done => "done", Dismissed => "dismissed" }
);

string_enum!(
    /// Where a callback request came from: the website button, or a caller
    /// who chose "call me back" instead of waiting in the queue.
    CallbackSource { Website => "website", Queue => "queue" }
);

string_enum!(
    /// A callback request's progress; the SIP engine moves it on.
    CallbackRequestStatus { Pending => "pending", Dialing => "dialing", Done => "done", Failed => "failed" }
);

string_enum!(
    /// What happens to a caller who waited `max_queue_wait_secs`.
    MaxWaitAction { Voicemail => "voicemail", Callback => "callback", Hangup => "hangup" }
);

string_enum!(
    SipTransport { Udp => "udp", Tcp => "tcp" }
);

string_enum!(
    /// Where a trunk's registration to its provider stands: being sent
    /// (or refreshed), accepted until `expires_at`, or refused / not
    /// answered (retried with backoff).
    TrunkRegistrationState { Registering => "registering", Registered => "registered", Failed => "failed" }
);

/// A trunk's outbound registration as the SIP server last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrunkRegistration {
    pub state: TrunkRegistrationState,
    /// When the provider's binding runs out (registered only).
    pub expires_at: Option<Timestamp>,
    /// The provider's refusal or why it could not be reached.
    pub last_error: Option<String>,
    pub updated_at: Timestamp,
}

string_enum!(
    /// The two audio files a call may carry.
    CallMedia { Recording => "recording", Voicemail => "voicemail" }
);

/// One call (a CDR). Times are when the call was offered (the INVITE came
/// in, or click-to-call was accepted for dialing), answered and ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Call {
    pub id: CallId,
    pub direction: CallDirection,
    /// The caller: the customer inbound, our DID outbound.
    pub from_number: String,
    /// The callee: our DID inbound, the customer outbound.
    pub to_number: String,
    pub voice_number_id: Option<VoiceNumberId>,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    /// The voice conversation the call belongs to (the contact's history).
    pub conversation_id: ConversationId,
    pub team_id: Option<TeamId>,
    pub agent_user_id: Option<UserId>,
    pub sip_call_id: Option<String>,
    pub offered_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// `null` while the call is live.
    pub disposition: Option<CallDisposition>,
    /// Offered → answered (or → ended when never answered); set at the end.
    pub wait_ms: Option<i64>,
    /// Answered → ended; 0 for unanswered calls; set at the end.
    pub talk_ms: Option<i64>,
    pub recording_attachment_id: Option<AttachmentId>,
    pub voicemail_attachment_id: Option<AttachmentId>,
    /// Set for unanswered inbound calls: the missed-calls list.
    pub callback_status: Option<CallbackStatus>,
}

/// A request to be called back (website button or a queued caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallbackRequest {
    pub id: CallbackRequestId,
    pub phone: String,
    pub name: Option<String>,
    pub source: CallbackSource,
    pub requested_at: Timestamp,
    pub status: CallbackRequestStatus,
    /// The call that asked for it (queue) or that carried it out.
    pub call_id: Option<CallId>,
    /// The website widget's inbox the request came through.
    pub inbox_id: Option<InboxId>,
}

/// Wait and talk time of a finished call. Clock skew between nodes must
/// never produce negative durations, so both are clamped at zero.
pub fn call_durations(offered: Timestamp, answered: Option<Timestamp>, ended: Timestamp) -> (i64, i64) {
    let wait = (answered.unwrap_or(ended).0 - offered.0).max(0);
    let talk = answered.map_or(0, |a| (ended.0 - a.0).max(0));
    (wait, talk)
}

/// Whether a call may end with `disposition`: an answered call ends as
/// answered; `answered` needs an answer first.
pub fn check_end(answered: bool, disposition: CallDisposition) -> Result<(), ValidationError> {
    match (answered, disposition == CallDisposition::Answered) {
        (true, false) => Err(ValidationError::new("disposition", "an answered call ends as answered")),
        (false, true) => Err(ValidationError::new("disposition", "the call was never answered")),
        _ => Ok(()),
    }
}

/// An inbound call nobody answered goes to the missed-calls list, waiting
/// for a callback.
pub fn callback_for(direction: CallDirection, disposition: CallDisposition) -> Option<CallbackStatus> {
    let unanswered = matches!(disposition, CallDisposition::Abandoned | CallDisposition::Missed | CallDisposition::Voicemail);
    (direction == CallDirection::Inbound && unanswered).then_some(CallbackStatus::Pending)
}

/// What a call waiting in a team queue does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStep {
    /// `max_queue_wait_secs` is up: `max_wait_action`.
    GiveUp,
    /// Time for "you are number N" (and the other-channels message).
    Announce,
    /// Look for a free agent, then wake again in at most this long.
    Wait { for_ms: u64 },
}

/// The queue's clock for one waiting call: `waited_ms` since it entered
/// the queue, `since_announced_ms` since the last announcement; `tick_ms`
/// is how often it looks for a free agent.
pub fn queue_step(settings: &VoiceSettings, waited_ms: u64, since_announced_ms: u64, tick_ms: u64) -> QueueStep {
    let max_wait = u64::from(settings.max_queue_wait_secs) * 1000;
    let every = u64::from(settings.other_channels_every_secs.max(15)) * 1000;
    if waited_ms >= max_wait {
        return QueueStep::GiveUp;
    }
    if since_announced_ms >= every {
        return QueueStep::Announce;
    }
    QueueStep::Wait { for_ms: tick_ms.min(max_wait - waited_ms).min(every - since_announced_ms).max(1) }
}

/// The system line a finished call leaves in its conversation, so the
/// thread reads as a history beside chats.
pub fn end_line(disposition: CallDisposition, talk_ms: i64) -> String {
    let secs = talk_ms.max(0) / 1000;
    match disposition {
        CallDisposition::Answered => format!("Call ended after {}:{:02}", secs / 60, secs % 60),
        CallDisposition::Abandoned => "The caller hung up before an answer".to_owned(),
        CallDisposition::Missed => "Missed call".to_owned(),
        CallDisposition::Voicemail => "Voicemail left".to_owned(),
        CallDisposition::Failed => "The call failed".to_owned(),
        CallDisposition::Busy => "The line was busy".to_owned(),
        CallDisposition::NoAnswer => "No answer".to_owned(),
    }
}

/// `+` and 7–15 digits, the first not 0 (ITU-T E.164). Separators are not
/// accepted: numbers are matched byte for byte against INVITEs.
pub fn e164(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let t = raw.trim();
    let digits = t.strip_prefix('+').unwrap_or("");
    let ok = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if ok { Ok(t.to_owned()) } else { Err(ValidationError::new(field, "must be an E.164 number like +380441234567")) }
}

/// Extensions are 2–10 digits (what a desk phone can dial).
pub fn extension(raw: &str) -> Result<String, ValidationError> {
    let t = raw.trim();
    if (2..=10).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
        Ok(t.to_owned())
    } else {
        Err(ValidationError::new("extension", "must be 2-10 digits"))
    }
}

/// SIP passwords are typed on phone keypads and stored only as HA1, so
/// a modest minimum; at most 128 characters.
pub fn sip_password(raw: &str) -> Result<(), ValidationError> {
    let n = raw.chars().count();
    if !(8..=128).contains(&n) || raw.chars().any(|c| c.is_control() || c == ':') {
        return Err(ValidationError::new("password", "must be 8-128 characters, without ':' or control characters"));
    }
    Ok(())
}

/// The namespace of default SIP domains; admins may not pick names in it,
/// so no workspace can take another one's default.
pub const DEFAULT_SIP_DOMAIN_SUFFIX: &str = ".switchboard.local";

/// A workspace's SIP domain until an admin sets one: derived from its id,
/// hence unique without a lookup.
pub fn default_sip_domain(ws: WorkspaceId) -> String {
    format!("ws{}{DEFAULT_SIP_DOMAIN_SUFFIX}", ws.0)
}

/// The workspace whose default domain this is, if it has that shape.
pub fn workspace_of_default_domain(domain: &str) -> Option<WorkspaceId> {
    let id = domain.strip_suffix(DEFAULT_SIP_DOMAIN_SUFFIX)?.strip_prefix("ws")?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || id.starts_with('0') {
        return None;
    }
    id.parse().ok().map(WorkspaceId)
}

/// A host name (lower-cased): labels of letters, digits and '-', at least
/// two labels. Names under `.switchboard.local` are reserved for defaults.
pub fn sip_domain(ws: WorkspaceId, raw: &str) -> Result<String, ValidationError> {
    let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = || ValidationError::new("sip_domain", "must be a host name like sip.example.com");
    if d.len() > 253 || !d.contains('.') {
        return Err(bad());
    }
    for label in d.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad());
        }
    }
    if d.ends_with(DEFAULT_SIP_DOMAIN_SUFFIX) && d != default_sip_domain(ws) {
        return Err(ValidationError::new("sip_domain", "names under .switchboard.local are reserved"));
    }
    Ok(d)
}

fn default_ring_timeout() -> u32 {
    20
}
fn default_wrap_up() -> u32 {
    10
}
fn default_max_wait() -> u32 {
    300
}
fn default_max_wait_action() -> MaxWaitAction {
    MaxWaitAction::Voicemail
}
fn default_every() -> u32 {
    60
}
fn default_true() -> bool {
    true
}

/// A workspace's voice settings. Missing keys take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceSettings {
    /// The SIP domain (and digest realm) phones register to; `null` on
    /// save means the default `ws<id>.switchboard.local`. Extensions keep
    /// the realm their password was set under, so a change does not lock
    /// phones out, but each extension's password must be set again for the
    /// new realm (`password_realm_current` shows which).
    #[serde(default)]
    pub sip_domain: Option<String>,
    /// How long an agent's phone rings before the call moves on.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u32,
    /// After-call work: the agent gets no new call for this long.
    #[serde(default = "default_wrap_up")]
    pub wrap_up_secs: u32,
    #[serde(default = "default_max_wait")]
    pub max_queue_wait_secs: u32,
    #[serde(default = "default_max_wait_action")]
    pub max_wait_action: MaxWaitAction,
    /// Announced to waiting callers (TTS), e.g. "You can also write to us on WhatsApp".
    #[serde(default)]
    pub other_channels_message: Option<String>,
    #[serde(default = "default_every")]
    pub other_channels_every_secs: u32,
    /// Record every call (WAV).
    #[serde(default = "default_true")]
    pub recording: bool,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings {
            sip_domain: None,
            ring_timeout_secs: default_ring_timeout(),
            wrap_up_secs: default_wrap_up(),
            max_queue_wait_secs: default_max_wait(),
            max_wait_action: default_max_wait_action(),
            other_channels_message: None,
            other_channels_every_secs: default_every(),
            recording: true,
        }
    }
}

impl VoiceSettings {
    /// Checks ranges and cleans text; the returned settings carry the
    /// resolved SIP domain (never `None`).
    pub fn checked(mut self, ws: WorkspaceId) -> Result<VoiceSettings, ValidationError> {
        self.sip_domain = Some(match self.sip_domain.as_deref() {
            Some(d) => sip_domain(ws, d)?,
            None => default_sip_domain(ws),
        });
        range("ring_timeout_secs", self.ring_timeout_secs, 5, 300)?;
        range("wrap_up_secs", self.wrap_up_secs, 0, 3600)?;
        range("max_queue_wait_secs", self.max_queue_wait_secs, 10, 24 * 3600)?;
        range("other_channels_every_secs", self.other_channels_every_secs, 15, 3600)?;
        self.other_channels_message = match self.other_channels_message.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(m) => Some(validate::text("other_channels_message", m, 1000)?),
        };
        Ok(self)
    }
}

fn range(field: &'static str, v: u32, min: u32, max: u32) -> Result<(), ValidationError> {
    if (min..=max).contains(&v) { Ok(()) } else { Err(ValidationError::new(field, format!("must be between {min} and {max}"))) }
}

/// What a caller hears: text spoken by TTS, or an uploaded recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum Prompt {
    Tts {
        tts: String,
        /// Language/voice of the synthesiser, e.g. "en".
        #[serde(default = "default_voice")]
        voice: String,
    },
    Audio {
        attachment_id: AttachmentId,
    },
}

fn default_voice() -> String {
    "en".to_owned()
}

impl Prompt {
    fn check(&self, field: &'static str) -> Result<Prompt, ValidationError> {
        match self {
            Prompt::Tts { tts, voice } => {
                let tts = validate::text(field, tts, 2000)?;
                let voice = voice.trim().to_ascii_lowercase();
                let ok = (2..=10).contains(&voice.len()) && voice.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if !ok {
                    return Err(ValidationError::new(field, "voice must look like \"en\" or \"uk-ua\""));
                }
                Ok(Prompt::Tts { tts, voice })
            }
            Prompt::Audio { attachment_id } => Ok(Prompt::Audio { attachment_id: *attachment_id }),
        }
    }

    pub fn attachment(&self) -> Option<AttachmentId> {
        match self {
            Prompt::Audio { attachment_id } => Some(*attachment_id),
            Prompt::Tts { .. } => None,
        }
    }
}

/// What pressing a key (or timing out) does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum IvrAction {
    /// Into the call queue of a team.
    Queue {
        team_id: TeamId,
    },
    /// To another menu (or this one again: loops are allowed on purpose).
    Menu {
        menu_id: IvrMenuId,
    },
    Voicemail,
    Hangup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IvrOption {
    /// '0'-'9', '*' or '#'.
    pub digit: String,
    pub action: IvrAction,
}

fn default_timeout() -> u32 {
    5
}
fn default_retries() -> u32 {
    2
}
fn default_timeout_action() -> IvrAction {
    IvrAction::Hangup
}

/// An IVR menu as admins write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IvrMenuSpec {
    pub name: String,
    pub prompt: Prompt,
    #[serde(default)]
    pub options: Vec<IvrOption>,
    /// Seconds to wait for a key after the prompt.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
    /// Replays of the prompt after an invalid key or a timeout.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// Played after an invalid key (default: the prompt again).
    #[serde(default)]
    pub invalid_prompt: Option<Prompt>,
    /// After the last retry.
    #[serde(default = "default_timeout_action")]
    pub timeout_action: IvrAction,
}

impl IvrMenuSpec {
    /// Shape checks; whether referenced teams, menus and files exist in the
    /// workspace is the store's check (it needs the database).
    pub fn checked(self) -> Result<IvrMenuSpec, ValidationError> {
        let name = validate::name("name", &self.name)?;
        let prompt = self.prompt.check("prompt")?;
        let invalid_prompt = self.invalid_prompt.as_ref().map(|p| p.check("invalid_prompt")).transpose()?;
        if self.options.len() > 12 {
            return Err(ValidationError::new("options", "at most 12 (one per key)"));
        }
        let mut seen = Vec::new();
        for o in &self.options {
            let ok = o.digit.len() == 1 && o.digit.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
            if !ok {
                return Err(ValidationError::new("options", format!("digit {:?} must be one of 0-9, * or #", o.digit)));
            }
            if seen.contains(&o.digit) {
                return Err(ValidationError::new("options", format!("digit {} is used twice", o.digit)));
            }
            seen.push(o.digit.clone());
        }
        range("timeout_secs", self.timeout_secs, 1, 60)?;
        range("max_retries", self.max_retries, 0, 10)?;
        Ok(IvrMenuSpec { name, prompt, invalid_prompt, ..self })
    }

    /// Every action of the menu (options, then the timeout action).
    pub fn actions(&self) -> impl Iterator<Item = &IvrAction> {
        self.options.iter().map(|o| &o.action).chain(std::iter::once(&self.timeout_action))
    }

    /// Every uploaded file the menu plays.
    pub fn attachments(&self) -> impl Iterator<Item = AttachmentId> + '_ {
        std::iter::once(&self.prompt).chain(self.invalid_prompt.as_ref()).filter_map(Prompt::attachment)
    }
}

/// A trunk's inbound matching: calls are accepted from these source
/// addresses (IPs, or CIDR blocks like `192.0.2.0/24`) and/or when they
/// authenticate with the trunk's credentials (`voice_inbound`).
pub fn trunk_sources(raw: &[String]) -> Result<Vec<String>, ValidationError> {
    if raw.len() > 50 {
        return Err(ValidationError::new("inbound_ips", "at most 50 addresses"));
    }
    raw.iter()
        .map(|s| {
            let s = s.trim();
            let full = |ip: &std::net::IpAddr| if ip.is_ipv4() { 32 } else { 128 };
            crate::voice_inbound::parse_source(s)
                .map(|(ip, len)| if len == full(&ip) && !s.contains('/') { ip.to_string() } else { format!("{ip}/{len}") })
                .ok_or_else(|| ValidationError::new("inbound_ips", format!("{s:?} is not an IP address or CIDR block")))
        })
        .collect()
}

/// A trunk's host: a host name or an IP address.
pub fn trunk_host(raw: &str) -> Result<String, ValidationError> {
    let h = raw.trim().to_ascii_lowercase();
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Ok(h);
    }
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok { Ok(h) } else { Err(ValidationError::new("host", "must be a host name or an IP address")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_clock_gives_up_announces_and_waits() {
        let s = VoiceSettings { max_queue_wait_secs: 30, other_channels_every_secs: 20, ..VoiceSettings::default() };
        assert_eq!(queue_step(&s, 0, 0, 500), QueueStep::Wait { for_ms: 500 });
        assert_eq!(queue_step(&s, 29_800, 1_000, 500), QueueStep::Wait { for_ms: 200 });
        assert_eq!(queue_step(&s, 19_900, 19_900, 500), QueueStep::Wait { for_ms: 100 });
        assert_eq!(queue_step(&s, 20_000, 20_000, 500), QueueStep::Announce);
        assert_eq!(queue_step(&s, 30_000, 0, 500), QueueStep::GiveUp);
        // Announcements never come more often than every 15 s.
        let fast = VoiceSettings { other_channels_every_secs: 1, ..s };
        assert_eq!(queue_step(&fast, 5_000, 5_000, 500), QueueStep::Wait { for_ms: 500 });
    }

    #[test]
    fn durations_are_never_negative() {
        let t = Timestamp(10_000);
        assert_eq!(call_durations(t, Some(Timestamp(13_000)), Timestamp(20_000)), (3_000, 7_000));
        assert_eq!(call_durations(t, None, Timestamp(15_000)), (5_000, 0));
        assert_eq!(call_durations(t, Some(Timestamp(9_000)), Timestamp(8_000)), (0, 0));
    }

    #[test]
    fn ending_rules_and_missed_calls() {
        assert!(check_end(true, CallDisposition::Answered).is_ok());
        assert!(check_end(true, CallDisposition::Missed).is_err());
        assert!(check_end(false, CallDisposition::Answered).is_err());
        assert!(check_end(false, CallDisposition::Abandoned).is_ok());
        assert_eq!(callback_for(CallDirection::Inbound, CallDisposition::Voicemail), Some(CallbackStatus::Pending));
        assert_eq!(callback_for(CallDirection::Outbound, CallDisposition::NoAnswer), None);
        assert_eq!(callback_for(CallDirection::Inbound, CallDisposition::Answered), None);
        assert_eq!(end_line(CallDisposition::Answered, 125_400), "Call ended after 2:05");
    }

    #[test]
    fn numbers_extensions_and_domains() {
        assert_eq!(e164("number", " +380441234567 ").as_deref(), Ok("+380441234567"));
        for bad in ["380441234567", "+0441234567", "+38 044 123", "+12", "+1234567890123456"] {
            assert!(e164("number", bad).is_err(), "{bad}");
        }
        assert!(extension("101").is_ok());
        assert!(extension("1").is_err() && extension("10a").is_err());
        let ws = WorkspaceId(7);
        assert_eq!(default_sip_domain(ws), "ws7.switchboard.local");
        assert_eq!(workspace_of_default_domain("ws7.switchboard.local"), Some(ws));
        assert_eq!(workspace_of_default_domain("ws07.switchboard.local"), None);
        assert_eq!(sip_domain(ws, "SIP.Example.com.").as_deref(), Ok("sip.example.com"));
        assert!(sip_domain(ws, "ws7.switchboard.local").is_ok());
        assert!(sip_domain(ws, "ws8.switchboard.local").is_err(), "another workspace's default");
        assert!(sip_domain(ws, "localhost").is_err());
        assert!(sip_domain(ws, "bad_name.com").is_err());
    }

    #[test]
    fn settings_default_and_ranges() {
        let s: VoiceSettings = serde_json::from_str("{}").unwrap();
        let s = s.checked(WorkspaceId(1)).unwrap();
        assert_eq!(s.sip_domain.as_deref(), Some("ws1.switchboard.local"));
        assert_eq!((s.ring_timeout_secs, s.wrap_up_secs, s.max_queue_wait_secs), (20, 10, 300));
        assert!(s.recording);
        let bad = VoiceSettings { ring_timeout_secs: 1, ..VoiceSettings::default() };
        assert!(bad.checked(WorkspaceId(1)).is_err());
        assert!(serde_json::from_str::<VoiceSettings>(r#"{"colour":"red"}"#).is_err());
    }

    #[test]
    fn menus_need_unique_valid_digits() {
        let menu = |digits: &[&str]| IvrMenuSpec {
            name: "Main".into(),
            prompt: Prompt::Tts { tts: "Press 1".into(), voice: "en".into() },
            options: digits.iter().map(|d| IvrOption { digit: (*d).into(), action: IvrAction::Hangup }).collect(),
            timeout_secs: 5,
            max_retries: 2,
            invalid_prompt: None,
            timeout_action: IvrAction::Hangup,
        };
        assert!(menu(&["1", "2", "*", "#"]).checked().is_ok());
        assert!(menu(&["1", "1"]).checked().is_err());
        assert!(menu(&["12"]).checked().is_err());
        assert!(menu(&["a"]).checked().is_err());
        let parsed: IvrMenuSpec = serde_json::from_str(
            r#"{"name":"M","prompt":{"attachment_id":4},"options":[{"digit":"1","action":{"type":"queue","team_id":2}}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.attachments().collect::<Vec<_>>(), vec![AttachmentId(4)]);
        assert_eq!(parsed.actions().count(), 2);
    }

    #[test]
    fn trunk_inputs() {
        assert_eq!(trunk_sources(&[" 10.0.0.1 ".into()]).unwrap(), vec!["10.0.0.1"]);
        assert!(trunk_sources(&["example.com".into()]).is_err());
        assert_eq!(trunk_sources(&["192.0.2.0/24".into()]).unwrap(), vec!["192.0.2.0/24"]);
        assert!(trunk_sources(&["192.0.2.0/40".into()]).is_err());
        assert!(trunk_host("sip.provider.net").is_ok());
        assert!(trunk_host("bad host").is_err());
    }
}
