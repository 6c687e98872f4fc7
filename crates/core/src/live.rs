//! The supervisor's live picture (SPEC §3.9): what is waiting, what is being
//! handled, and who is available — computed from plain rows, no IO.
//!
//! Definitions: a conversation is *waiting* when it is open and nobody has
//! it; *active* when it is open or pending and assigned. Snoozed and
//! resolved conversations are neither.

use crate::ids::*;
use crate::model::*;
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq)]
pub struct OpenConversationRow {
    pub team_id: Option<TeamId>,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub assignee_id: Option<UserId>,
    pub waiting_since: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub user_id: UserId,
    pub role: Role,
    pub presence: Presence,
    pub since: Timestamp,
    pub team_ids: Vec<TeamId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TeamLoad {
    pub team_id: Option<TeamId>,
    pub waiting: i64,
    pub active: i64,
    pub agents_online: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChannelLoad {
    pub channel: Channel,
    pub waiting: i64,
    pub active: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentLoad {
    pub user_id: UserId,
    pub role: Role,
    pub presence: Presence,
    pub since: Timestamp,
    pub active_conversations: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveStats {
    pub waiting: i64,
    pub active: i64,
    /// Since when the longest-waiting unassigned customer has waited.
    pub longest_waiting_since: Option<Timestamp>,
    pub by_team: Vec<TeamLoad>,
    pub by_channel: Vec<ChannelLoad>,
    pub agents: Vec<AgentLoad>,
}

pub fn is_waiting(c: &OpenConversationRow) -> bool {
    c.status == ConversationStatus::Open && c.assignee_id.is_none()
}

pub fn is_active(c: &OpenConversationRow) -> bool {
    matches!(c.status, ConversationStatus::Open | ConversationStatus::Pending) && c.assignee_id.is_some()
}

/// `teams` lists every team of the workspace, so idle teams show as zeros.
pub fn live_stats(conversations: &[OpenConversationRow], agents: &[AgentRow], teams: &[TeamId]) -> LiveStats {
    let mut by_team: BTreeMap<Option<TeamId>, TeamLoad> = teams
        .iter()
        .map(|t| (Some(*t), TeamLoad { team_id: Some(*t), waiting: 0, active: 0, agents_online: 0 }))
        .collect();
    let mut by_channel: BTreeMap<&'static str, ChannelLoad> = BTreeMap::new();
    let mut per_agent: BTreeMap<UserId, i64> = BTreeMap::new();
    let (mut waiting, mut active, mut longest) = (0, 0, None::<Timestamp>);
    for c in conversations {
        let (w, a) = (is_waiting(c), is_active(c));
        if !w && !a {
            continue;
        }
        let team = by_team
            .entry(c.team_id)
            .or_insert(TeamLoad { team_id: c.team_id, waiting: 0, active: 0, agents_online: 0 });
        let channel = by_channel
            .entry(c.channel.as_str())
            .or_insert(ChannelLoad { channel: c.channel, waiting: 0, active: 0 });
        if w {
            waiting += 1;
            team.waiting += 1;
            channel.waiting += 1;
            let since = c.waiting_since.unwrap_or(c.created_at);
            longest = Some(longest.map_or(since, |l| l.min(since)));
        } else {
            active += 1;
            team.active += 1;
            channel.active += 1;
            if let Some(agent) = c.assignee_id {
                *per_agent.entry(agent).or_default() += 1;
            }
        }
    }
    for agent in agents.iter().filter(|a| a.presence.is_staffed()) {
        for t in &agent.team_ids {
            if let Some(load) = by_team.get_mut(&Some(*t)) {
                load.agents_online += 1;
            }
        }
    }
    LiveStats {
        waiting,
        active,
        longest_waiting_since: longest,
        by_team: by_team.into_values().collect(),
        by_channel: by_channel.into_values().collect(),
        agents: agents
            .iter()
            .map(|a| AgentLoad {
                user_id: a.user_id,
                role: a.role,
                presence: a.presence,
                since: a.since,
                active_conversations: per_agent.get(&a.user_id).copied().unwrap_or(0),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(team: Option<i64>, status: ConversationStatus, assignee: Option<i64>, since: i64) -> OpenConversationRow {
        OpenConversationRow {
            team_id: team.map(TeamId),
            channel: Channel::Webchat,
            status,
            assignee_id: assignee.map(UserId),
            waiting_since: Some(Timestamp(since)),
            created_at: Timestamp(since),
        }
    }

    #[test]
    fn counts_waiting_active_and_per_agent_load() {
        use ConversationStatus::*;
        let convs = [
            conv(None, Open, None, 50),
            conv(Some(1), Open, None, 20),
            conv(Some(1), Open, Some(7), 10),
            conv(Some(1), Pending, Some(7), 10),
            conv(Some(1), Snoozed, None, 5),
            conv(Some(1), Pending, None, 1),
        ];
        let agents = [
            AgentRow { user_id: UserId(7), role: Role::Agent, presence: Presence::Online, since: Timestamp(0), team_ids: vec![TeamId(1)] },
            AgentRow { user_id: UserId(8), role: Role::Agent, presence: Presence::Away, since: Timestamp(0), team_ids: vec![TeamId(1)] },
        ];
        let s = live_stats(&convs, &agents, &[TeamId(1), TeamId(2)]);
        assert_eq!((s.waiting, s.active), (2, 2));
        assert_eq!(s.longest_waiting_since, Some(Timestamp(20)));
        let team1 = s.by_team.iter().find(|t| t.team_id == Some(TeamId(1))).unwrap();
        assert_eq!((team1.waiting, team1.active, team1.agents_online), (1, 2, 1));
        let idle = s.by_team.iter().find(|t| t.team_id == Some(TeamId(2))).unwrap();
        assert_eq!((idle.waiting, idle.active), (0, 0));
        let pool = s.by_team.iter().find(|t| t.team_id.is_none()).unwrap();
        assert_eq!(pool.waiting, 1);
        assert_eq!(s.by_channel, vec![ChannelLoad { channel: Channel::Webchat, waiting: 2, active: 2 }]);
        assert_eq!(s.agents[0].active_conversations, 2);
        assert_eq!(s.agents[1].active_conversations, 0);
    }
}
