//! Whose phone rings for a waiting call: the team's strategy (the same
//! [`choose`](super::strategy::choose) the chat engine uses) over the
//! members able to take a call right now, plus ring-all.
//!
//! Pure: the PBX gathers the facts (presence, registrations, calls in
//! progress, wrap-up) and carries the plan out. Why calls do not go
//! through [`Engine`](super::Engine): the engine's offers are answered by
//! clicks over seconds, a call's by SIP responses within the ring timeout,
//! and whether a phone is registered or already ringing is known only to
//! the PBX task that owns the registrar. Sharing the strategy keeps the
//! two from deciding differently.

use super::strategy::{Candidate, choose};
use super::{AgentStatus, SplitMix64, Strategy};
use crate::ids::UserId;
use crate::time::Timestamp;

/// One team member as the PBX sees them, in team member order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneMember {
    pub agent: UserId,
    pub priority: i32,
    pub weight: u32,
    pub status: AgentStatus,
    /// The agent's voice capacity (0: takes no calls).
    pub voice_capacity: u32,
    /// Calls the agent is ringing for or talking in now.
    pub calls: u32,
    /// Has an extension with a live registration.
    pub registered: bool,
    /// In after-call work.
    pub wrapping_up: bool,
    /// Already rung for this call in the current round.
    pub tried: bool,
    /// Open work held (all kinds), for `least_busy`.
    pub load: u32,
    /// When the last call or piece of work ended, for `longest_idle`.
    pub last_activity: Timestamp,
    /// Calls answered today, for `fewest_handled_today`.
    pub handled_today: u32,
}

impl PhoneMember {
    /// Able to take a call now, whether or not rung in this round.
    pub fn able(&self) -> bool {
        self.status == AgentStatus::Online && self.registered && !self.wrapping_up && self.calls < self.voice_capacity
    }
}

/// What to ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingPlan {
    /// Nobody can take the call now.
    Nobody,
    /// Everyone able was rung in this round: wait a moment, then start a
    /// new round (the same phones are not rung again in a tight loop).
    RoundOver,
    /// Ring these phones (one, or everyone for ring-all).
    Ring(Vec<UserId>),
}

/// The phones to ring for the call at the head of a team's queue.
/// `sticky` is the customer's previous agent when the team is sticky: if
/// able and not yet tried, they get the call whatever the strategy.
/// `last_agent` is who got the team's last call (round-robin memory).
pub fn ring_plan(
    strategy: Strategy,
    members: &[PhoneMember],
    sticky: Option<UserId>,
    last_agent: Option<UserId>,
    rng: &mut SplitMix64,
) -> RingPlan {
    let fresh: Vec<(usize, &PhoneMember)> = members.iter().enumerate().filter(|(_, m)| m.able() && !m.tried).collect();
    if fresh.is_empty() {
        return if members.iter().any(PhoneMember::able) { RingPlan::RoundOver } else { RingPlan::Nobody };
    }
    if let Some(prev) = sticky
        && fresh.iter().any(|(_, m)| m.agent == prev)
    {
        return RingPlan::Ring(vec![prev]);
    }
    if strategy == Strategy::RingAll {
        return RingPlan::Ring(fresh.iter().map(|(_, m)| m.agent).collect());
    }
    let candidates: Vec<Candidate> = fresh
        .iter()
        .map(|(i, m)| Candidate {
            agent: m.agent,
            member_index: *i,
            priority: m.priority,
            weight: m.weight,
            load: m.load + m.calls,
            last_activity: m.last_activity,
            handled_today: m.handled_today,
        })
        .collect();
    let last_index = last_agent.and_then(|a| members.iter().position(|m| m.agent == a));
    let pick = choose(strategy, &candidates, last_index, rng);
    RingPlan::Ring(vec![candidates[pick].agent])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: i64) -> PhoneMember {
        PhoneMember {
            agent: UserId(id),
            priority: 0,
            weight: 1,
            status: AgentStatus::Online,
            voice_capacity: 1,
            calls: 0,
            registered: true,
            wrapping_up: false,
            tried: false,
            load: 0,
            last_activity: Timestamp(0),
            handled_today: 0,
        }
    }

    fn plan(strategy: Strategy, members: &[PhoneMember], last: Option<i64>) -> RingPlan {
        ring_plan(strategy, members, None, last.map(UserId), &mut SplitMix64::new(7))
    }

    fn ring(ids: &[i64]) -> RingPlan {
        RingPlan::Ring(ids.iter().map(|&i| UserId(i)).collect())
    }

    #[test]
    fn only_able_members_are_rung() {
        let mut m = vec![member(1), member(2), member(3), member(4), member(5), member(6)];
        m[0].status = AgentStatus::Away;
        m[1].registered = false;
        m[2].calls = 1;
        m[3].wrapping_up = true;
        m[4].voice_capacity = 0;
        assert_eq!(plan(Strategy::RingAll, &m, None), ring(&[6]));
        m[5].status = AgentStatus::InCall;
        assert_eq!(plan(Strategy::RoundRobin, &m, None), RingPlan::Nobody);
    }

    #[test]
    fn ring_all_rings_everyone_able() {
        let mut m = vec![member(1), member(2), member(3)];
        m[1].status = AgentStatus::WrapUp;
        assert_eq!(plan(Strategy::RingAll, &m, None), ring(&[1, 3]));
    }

    #[test]
    fn each_strategy_picks_through_the_shared_choice() {
        let mut m = vec![member(1), member(2), member(3)];
        m[0].priority = 5;
        m[1].priority = 1;
        m[2].priority = 3;
        m[0].last_activity = Timestamp(300);
        m[1].last_activity = Timestamp(200);
        m[2].last_activity = Timestamp(100);
        m[0].handled_today = 0;
        m[1].handled_today = 4;
        m[2].handled_today = 2;
        m[0].load = 3;
        m[1].load = 0;
        m[2].load = 1;
        assert_eq!(plan(Strategy::Ordered, &m, None), ring(&[2]));
        assert_eq!(plan(Strategy::LongestIdle, &m, None), ring(&[3]));
        assert_eq!(plan(Strategy::FewestHandledToday, &m, None), ring(&[1]));
        assert_eq!(plan(Strategy::LeastBusy, &m, None), ring(&[2]));
        assert_eq!(plan(Strategy::RoundRobin, &m, None), ring(&[1]));
        assert_eq!(plan(Strategy::RoundRobin, &m, Some(1)), ring(&[2]));
        assert_eq!(plan(Strategy::RoundRobin, &m, Some(3)), ring(&[1]));
        for s in [Strategy::Random, Strategy::WeightedRandom] {
            assert!(matches!(plan(s, &m, None), RingPlan::Ring(v) if v.len() == 1), "{s:?}");
        }
    }

    #[test]
    fn ring_timeout_moves_on_then_a_new_round_starts() {
        let mut m = vec![member(1), member(2)];
        m[0].priority = 1;
        m[1].priority = 2;
        assert_eq!(plan(Strategy::Ordered, &m, None), ring(&[1]));
        m[0].tried = true;
        assert_eq!(plan(Strategy::Ordered, &m, None), ring(&[2]));
        m[1].tried = true;
        assert_eq!(plan(Strategy::Ordered, &m, None), RingPlan::RoundOver);
    }

    #[test]
    fn sticky_agent_first_when_able() {
        let m = vec![member(1), member(2)];
        let mut rng = SplitMix64::new(1);
        assert_eq!(ring_plan(Strategy::RingAll, &m, Some(UserId(2)), None, &mut rng), ring(&[2]));
        let mut busy = m.clone();
        busy[1].calls = 1;
        assert_eq!(ring_plan(Strategy::Ordered, &busy, Some(UserId(2)), None, &mut rng), ring(&[1]));
    }
}
