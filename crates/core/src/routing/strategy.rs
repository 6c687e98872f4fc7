//! Assignment strategies: which of the agents able to take a piece of work
//! gets it. The mapping to Asterisk `app_queue` and FreeSWITCH
//! `mod_callcenter` is in docs/ROUTING.md.

use super::rng::SplitMix64;
use crate::ids::UserId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Next member after the one who got the last piece of work
    /// (app_queue `rrmemory`, mod_callcenter `round-robin`).
    #[default]
    RoundRobin,
    /// Fewest conversations open right now.
    LeastBusy,
    /// Longest since their last assignment or finished work
    /// (app_queue `leastrecent`, mod_callcenter `longest-idle-agent`).
    LongestIdle,
    /// Fewest assignments since the start of the day
    /// (app_queue `fewestcalls`, mod_callcenter `agent-with-fewest-calls`).
    FewestHandledToday,
    /// Offer to every free member at once; the first to accept wins
    /// (app_queue `ringall`, mod_callcenter `ring-all`).
    RingAll,
    /// Lowest priority number first, then member order
    /// (app_queue `linear` with penalties, mod_callcenter `top-down`).
    Ordered,
    /// Uniformly at random (app_queue `random`, mod_callcenter `random`).
    Random,
    /// At random in proportion to the member's weight
    /// (app_queue `wrandom`).
    WeightedRandom,
}

impl Strategy {
    pub const ALL: [Strategy; 8] = [
        Strategy::RoundRobin,
        Strategy::LeastBusy,
        Strategy::LongestIdle,
        Strategy::FewestHandledToday,
        Strategy::RingAll,
        Strategy::Ordered,
        Strategy::Random,
        Strategy::WeightedRandom,
    ];
}

/// A member able to take the work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub agent: UserId,
    /// Position in the team's member list (ties are broken by it).
    pub member_index: usize,
    pub priority: i32,
    pub weight: u32,
    /// Work the agent holds or is being offered, all kinds.
    pub load: u32,
    pub last_activity: Timestamp,
    pub handled_today: u32,
}

/// Index into `candidates` (in member order, non-empty) of the one to offer
/// or assign to. `RingAll` is handled by the engine (everyone) and answers
/// the first here. `last_index` is the member index that got the team's
/// last piece of work (round-robin memory).
pub(crate) fn choose(strategy: Strategy, candidates: &[Candidate], last_index: Option<usize>, rng: &mut SplitMix64) -> usize {
    debug_assert!(!candidates.is_empty());
    let min_by = |key: &dyn Fn(&Candidate) -> (i64, i64)| {
        candidates
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| (key(c), c.member_index))
            .map(|(i, _)| i)
            .unwrap_or(0)
    };
    match strategy {
        Strategy::RoundRobin => match last_index {
            Some(last) => candidates.iter().position(|c| c.member_index > last).unwrap_or(0),
            None => 0,
        },
        Strategy::LeastBusy => min_by(&|c| (i64::from(c.load), c.last_activity.0)),
        Strategy::LongestIdle => min_by(&|c| (c.last_activity.0, 0)),
        Strategy::FewestHandledToday => min_by(&|c| (i64::from(c.handled_today), c.last_activity.0)),
        Strategy::Ordered => min_by(&|c| (i64::from(c.priority), 0)),
        Strategy::RingAll => 0,
        Strategy::Random => rng.below(candidates.len() as u64) as usize,
        Strategy::WeightedRandom => {
            let total: u64 = candidates.iter().map(|c| u64::from(c.weight)).sum();
            if total == 0 {
                return rng.below(candidates.len() as u64) as usize;
            }
            let mut ticket = rng.below(total);
            for (i, c) in candidates.iter().enumerate() {
                let w = u64::from(c.weight);
                if ticket < w {
                    return i;
                }
                ticket -= w;
            }
            candidates.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(i: usize, load: u32, last: i64, today: u32, priority: i32, weight: u32) -> Candidate {
        Candidate {
            agent: UserId(100 + i as i64),
            member_index: i,
            priority,
            weight,
            load,
            last_activity: Timestamp(last),
            handled_today: today,
        }
    }

    /// Four members with distinct answers for each strategy:
    /// 0 is busiest, 1 idle longest, 2 handled fewest today, 3 has the top priority.
    fn scenario() -> Vec<Candidate> {
        vec![cand(0, 4, 500, 9, 5, 1), cand(1, 2, 100, 7, 3, 1), cand(2, 3, 300, 1, 2, 1), cand(3, 1, 400, 5, 1, 97)]
    }

    fn pick(s: Strategy, last: Option<usize>) -> usize {
        let c = scenario();
        c[choose(s, &c, last, &mut SplitMix64::new(1))].member_index
    }

    #[test]
    fn each_strategy_picks_its_agent() {
        assert_eq!(pick(Strategy::LeastBusy, None), 3);
        assert_eq!(pick(Strategy::LongestIdle, None), 1);
        assert_eq!(pick(Strategy::FewestHandledToday, None), 2);
        assert_eq!(pick(Strategy::Ordered, None), 3);
        assert_eq!(pick(Strategy::RingAll, None), 0);
    }

    #[test]
    fn round_robin_remembers_and_wraps() {
        assert_eq!(pick(Strategy::RoundRobin, None), 0);
        assert_eq!(pick(Strategy::RoundRobin, Some(0)), 1);
        assert_eq!(pick(Strategy::RoundRobin, Some(2)), 3);
        assert_eq!(pick(Strategy::RoundRobin, Some(3)), 0);
        // Member 1 is busy (not a candidate): after 0 comes 2.
        let c: Vec<_> = scenario().into_iter().filter(|c| c.member_index != 1).collect();
        assert_eq!(c[choose(Strategy::RoundRobin, &c, Some(0), &mut SplitMix64::new(1))].member_index, 2);
    }

    #[test]
    fn ties_go_to_member_order() {
        let c = vec![cand(0, 1, 100, 0, 0, 1), cand(1, 1, 100, 0, 0, 1)];
        for s in [Strategy::LeastBusy, Strategy::LongestIdle, Strategy::FewestHandledToday, Strategy::Ordered] {
            assert_eq!(choose(s, &c, None, &mut SplitMix64::new(3)), 0, "{s:?}");
        }
    }

    #[test]
    fn random_is_reproducible_and_spread() {
        let c = scenario();
        let mut counts = [0; 4];
        let mut rng = SplitMix64::new(9);
        for _ in 0..4000 {
            counts[choose(Strategy::Random, &c, None, &mut rng)] += 1;
        }
        assert!(counts.iter().all(|&n| n > 800), "{counts:?}");
        let a: Vec<_> = (0..20).map(|_| choose(Strategy::Random, &c, None, &mut rng)).collect();
        let mut r1 = SplitMix64::new(5);
        let mut r2 = SplitMix64::new(5);
        let b1: Vec<_> = (0..20).map(|_| choose(Strategy::Random, &c, None, &mut r1)).collect();
        let b2: Vec<_> = (0..20).map(|_| choose(Strategy::Random, &c, None, &mut r2)).collect();
        assert_eq!(b1, b2);
        assert_eq!(a.len(), 20);
    }

    #[test]
    fn weighted_random_follows_weights() {
        let c = scenario(); // weights 1, 1, 1, 97
        let mut rng = SplitMix64::new(11);
        let heavy = (0..1000).filter(|_| choose(Strategy::WeightedRandom, &c, None, &mut rng) == 3).count();
        assert!((900..=1000).contains(&heavy), "{heavy}");
        // All weights zero: falls back to uniform instead of starving.
        let zero: Vec<_> = c.iter().map(|x| Candidate { weight: 0, ..*x }).collect();
        let picks: std::collections::BTreeSet<_> = (0..200).map(|_| choose(Strategy::WeightedRandom, &zero, None, &mut rng)).collect();
        assert_eq!(picks.len(), 4);
    }
}
