//! The routing engine (SPEC §3.3): which team a conversation or call goes to
//! and which agent gets it.
//!
//! Sans-IO: [`Engine::handle`] takes one [`RoutingEvent`] (with the current
//! time inside it) and appends [`Decision`]s; [`Engine::next_wake`] says when
//! the engine wants a [`RoutingEvent::Tick`]. It owns no clock, no socket and
//! no random source of its own — randomness comes from a seeded generator, so
//! a scenario replays identically. The server persists the decisions and
//! tells agents; voice will ring phones from the same decisions.
//!
//! Must never: do IO, read the clock, or hold anything it cannot rebuild from
//! the store (on start the adapter replays agents, teams, assignments and the
//! waiting conversations).

mod engine;
pub mod phones;
mod rng;
mod strategy;
pub mod team_select;

pub use engine::Engine;
pub use rng::SplitMix64;
pub use strategy::Strategy;

use crate::ids::{ConversationId, TeamId, UserId};
use crate::model::{Channel, Presence};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What is routed: a chat conversation or a phone call. They share agents'
/// capacity, so one engine routes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkId {
    Conversation(ConversationId),
    Call(i64),
}

/// Capacity is counted per kind of work: an agent may hold five chats,
/// ten emails and one call at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    Chat,
    Email,
    Voice,
}

impl WorkKind {
    pub const ALL: [WorkKind; 3] = [WorkKind::Chat, WorkKind::Email, WorkKind::Voice];

    pub fn of_channel(c: Channel) -> WorkKind {
        match c {
            Channel::Email => WorkKind::Email,
            Channel::Voice => WorkKind::Voice,
            _ => WorkKind::Chat,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// Maximum concurrent work per kind for one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    pub chat: u32,
    pub email: u32,
    pub voice: u32,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity { chat: 5, email: 10, voice: 1 }
    }
}

impl Capacity {
    pub fn of(&self, kind: WorkKind) -> u32 {
        match kind {
            WorkKind::Chat => self.chat,
            WorkKind::Email => self.email,
            WorkKind::Voice => self.voice,
        }
    }
}

/// An agent's availability as routing sees it. Only `Online` agents are
/// offered work; `InCall` and `WrapUp` come from voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Online,
    Away,
    Dnd,
    Offline,
    InCall,
    WrapUp,
}

impl From<Presence> for AgentStatus {
    fn from(p: Presence) -> Self {
        match p {
            Presence::Online => AgentStatus::Online,
            Presence::Away => AgentStatus::Away,
            Presence::Dnd => AgentStatus::Dnd,
            Presence::Offline => AgentStatus::Offline,
            Presence::InCall => AgentStatus::InCall,
            Presence::WrapUp => AgentStatus::WrapUp,
        }
    }
}

/// Skill name → level (1 = basic … 10 = expert).
pub type Skills = BTreeMap<String, u8>;

/// A skill a conversation needs, at least at `min_level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillRequirement {
    pub skill: String,
    #[serde(default = "one")]
    pub min_level: u8,
}

fn one() -> u8 {
    1
}

/// What the engine knows about an agent beyond team membership.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AgentProfile {
    pub capacity: Capacity,
    pub skills: Skills,
}

impl AgentProfile {
    pub fn check(&self) -> Result<(), crate::validate::ValidationError> {
        use crate::validate::ValidationError;
        let c = self.capacity;
        if c.chat > 100 || c.email > 500 || c.voice > 10 {
            return Err(ValidationError::new("capacity", "at most 100 chats, 500 emails and 10 calls"));
        }
        if self.skills.len() > 50 {
            return Err(ValidationError::new("skills", "at most 50"));
        }
        for (name, level) in &self.skills {
            if name.trim().is_empty() || name.chars().count() > 64 || !(1..=10).contains(level) {
                return Err(ValidationError::new("skills", "names of 1-64 characters with levels 1-10"));
            }
        }
        Ok(())
    }
}

/// An agent's place in one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamMemberRouting {
    pub agent: UserId,
    /// Ordered strategy: lower goes first (app_queue's penalty,
    /// mod_callcenter's tier position).
    pub priority: i32,
    /// Weighted random: relative share (0 = never chosen by weight).
    pub weight: u32,
    /// Most concurrent work this agent takes from this team (any kind);
    /// the per-kind agent capacity applies as well.
    pub team_capacity: u32,
}

/// Where a team sends what waited too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Overflow {
    pub after_secs: u32,
    pub to_team_id: TeamId,
}

/// A team's routing settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TeamRouting {
    /// false (the default): conversations wait in the team's unassigned
    /// list for someone to claim them.
    pub auto_assign: bool,
    pub strategy: Strategy,
    /// Absent: assign directly. Present: offer and wait this long for the
    /// agent to accept before moving on (ring timeout for calls).
    pub offer_timeout_secs: Option<u32>,
    /// Give a returning customer to the agent who served them last, if free.
    pub sticky: bool,
    pub overflow: Option<Overflow>,
}

impl Default for TeamRouting {
    /// Routing is opted into per team: without settings, conversations wait
    /// in the team's list for an agent to claim them.
    fn default() -> Self {
        TeamRouting { auto_assign: false, strategy: Strategy::RoundRobin, offer_timeout_secs: None, sticky: true, overflow: None }
    }
}

impl TeamRouting {
    pub fn check(&self) -> Result<(), crate::validate::ValidationError> {
        use crate::validate::ValidationError;
        if let Some(t) = self.offer_timeout_secs
            && !(5..=3600).contains(&t)
        {
            return Err(ValidationError::new("offer_timeout_secs", "must be between 5 and 3600"));
        }
        if let Some(o) = self.overflow
            && !(1..=86_400).contains(&o.after_secs)
        {
            return Err(ValidationError::new("overflow.after_secs", "must be between 1 and 86400"));
        }
        if self.strategy == Strategy::RingAll && self.offer_timeout_secs.is_none() {
            return Err(ValidationError::new("offer_timeout_secs", "ring_all offers to everyone at once and needs an offer timeout"));
        }
        Ok(())
    }
}

/// A conversation or call that needs an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWork {
    pub id: WorkId,
    pub kind: WorkKind,
    pub team: TeamId,
    /// Higher is served first (Priority::None = 0 … Urgent = 4).
    pub priority: u8,
    pub skills: Vec<SkillRequirement>,
    /// The agent who served this customer last (sticky routing).
    pub previous_agent: Option<UserId>,
    /// Whether the customer side wants queue position updates.
    pub notify_position: bool,
    /// When the customer started waiting. Kept across overflow and restarts,
    /// so FIFO order is by arrival, not by when the engine heard of it.
    pub waiting_since: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RoutingEvent {
    /// New work, or work moved to another team (it is withdrawn first).
    Arrived { work: NewWork, now: Timestamp },
    /// The work is no longer waiting for routing: resolved, abandoned,
    /// moved out of routing. Frees its agent's capacity if assigned.
    Withdrawn { work: WorkId, now: Timestamp },
    /// Someone took the work by hand (claim, transfer to a person, restore
    /// on start): it counts against that agent's capacity from now on.
    TakenBy { work: WorkId, kind: WorkKind, team: Option<TeamId>, agent: UserId, now: Timestamp },
    PresenceChanged { agent: UserId, status: AgentStatus, now: Timestamp },
    OfferAccepted { work: WorkId, agent: UserId, now: Timestamp },
    OfferDeclined { work: WorkId, agent: UserId, now: Timestamp },
    /// Time passed: offers expire, queues overflow.
    Tick { now: Timestamp },
    /// Midnight in the workspace: "fewest handled today" starts over.
    NewDay { now: Timestamp },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetractReason {
    /// Another agent accepted (ring-all) or the work was taken by hand.
    TakenElsewhere,
    TimedOut,
    Declined,
    AgentUnavailable,
    Withdrawn,
}

/// What the adapter must carry out.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Ask the agent to take the work (ring their phone); they answer with
    /// `OfferAccepted`/`OfferDeclined`, or it expires at `expires_at`.
    Offered { work: WorkId, team: TeamId, agent: UserId, expires_at: Timestamp },
    /// The work is the agent's now (persist the assignment).
    Assigned { work: WorkId, team: TeamId, agent: UserId },
    /// An offer is off (stop ringing, hide the prompt).
    OfferRetracted { work: WorkId, agent: UserId, reason: RetractReason },
    /// Nobody free: the work waits at this 1-based position.
    Queued { work: WorkId, team: TeamId, position: usize },
    /// Someone ahead left the queue (only for work with `notify_position`).
    PositionChanged { work: WorkId, team: TeamId, position: usize },
    /// Waited longer than the team's overflow limit: now waits in `to`.
    Overflowed { work: WorkId, from: TeamId, to: TeamId },
}

impl Decision {
    pub fn work(&self) -> WorkId {
        match self {
            Decision::Offered { work, .. }
            | Decision::Assigned { work, .. }
            | Decision::OfferRetracted { work, .. }
            | Decision::Queued { work, .. }
            | Decision::PositionChanged { work, .. }
            | Decision::Overflowed { work, .. } => *work,
        }
    }
}
