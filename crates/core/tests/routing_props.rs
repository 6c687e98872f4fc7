//! Property tests of the routing engine over random event sequences:
//! no agent above capacity, no work assigned twice, FIFO within a priority,
//! and no free able agent idle while work it could take waits.

use proptest::prelude::*;
use std::collections::HashMap;
use switchboard_core::routing::{
    AgentProfile, AgentStatus, Capacity, Decision, Engine, NewWork, Overflow, RoutingEvent, SkillRequirement, Skills,
    Strategy as Assign, TeamMemberRouting, TeamRouting, WorkId, WorkKind,
};
use switchboard_core::{ConversationId, TeamId, Timestamp, UserId};

const AGENTS: i64 = 6;
const TEAMS: i64 = 3;
const SKILLS: [&str; 2] = ["en", "uk"];

#[derive(Debug, Clone)]
enum Step {
    Arrive { team: i64, priority: u8, kind: u8, skill: Option<(usize, u8)>, sticky: Option<i64> },
    Withdraw { pick: usize },
    Presence { agent: i64, status: u8 },
    Accept { pick: usize, agent: i64 },
    Decline { pick: usize, agent: i64 },
    Tick { secs: u16 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1..=TEAMS, 0u8..3, 0u8..3, proptest::option::of((0usize..2, 1u8..4)), proptest::option::of(1..=AGENTS))
            .prop_map(|(team, priority, kind, skill, sticky)| Step::Arrive { team, priority, kind, skill, sticky }),
        2 => any::<usize>().prop_map(|pick| Step::Withdraw { pick }),
        2 => (1..=AGENTS, 0u8..4).prop_map(|(agent, status)| Step::Presence { agent, status }),
        2 => (any::<usize>(), 1..=AGENTS).prop_map(|(pick, agent)| Step::Accept { pick, agent }),
        1 => (any::<usize>(), 1..=AGENTS).prop_map(|(pick, agent)| Step::Decline { pick, agent }),
        1 => (0u16..90).prop_map(|secs| Step::Tick { secs }),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    capacity: Vec<Capacity>,
    skills: Vec<Skills>,
    /// team → (member agents, strategy index)
    teams: Vec<(Vec<i64>, usize)>,
    overflow: bool,
    seed: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        proptest::collection::vec((0u32..3, 0u32..3, 0u32..2), AGENTS as usize),
        proptest::collection::vec(proptest::collection::vec(0u8..5, 2), AGENTS as usize),
        proptest::collection::vec((proptest::collection::btree_set(1..=AGENTS, 1..=AGENTS as usize), 0usize..8), TEAMS as usize),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(caps, levels, teams, overflow, seed)| Setup {
            capacity: caps.into_iter().map(|(chat, email, voice)| Capacity { chat, email, voice }).collect(),
            skills: levels
                .into_iter()
                .map(|l| SKILLS.iter().zip(l).filter(|(_, lvl)| *lvl > 0).map(|(s, lvl)| (s.to_string(), lvl)).collect())
                .collect(),
            teams: teams.into_iter().map(|(m, s)| (m.into_iter().collect(), s)).collect(),
            overflow,
            seed,
        })
}

fn kind_of(k: u8) -> WorkKind {
    WorkKind::ALL[k as usize % 3]
}

fn status_of(s: u8) -> AgentStatus {
    [AgentStatus::Online, AgentStatus::Away, AgentStatus::Dnd, AgentStatus::Offline][s as usize % 4]
}

struct Run {
    engine: Engine,
    setup: Setup,
    offers: bool,
    now: i64,
    next_id: i64,
    live: Vec<(WorkId, NewWork)>,
    holder: HashMap<WorkId, UserId>,
    status: HashMap<i64, AgentStatus>,
}

impl Run {
    fn new(setup: Setup, offers: bool) -> Run {
        let mut engine = Engine::new(setup.seed);
        let mut out = Vec::new();
        let t0 = Timestamp(1_000_000);
        for a in 1..=AGENTS {
            let i = (a - 1) as usize;
            engine.set_agent(UserId(a), AgentProfile { capacity: setup.capacity[i], skills: setup.skills[i].clone() }, t0, &mut out);
        }
        for (t, (members, strategy)) in setup.teams.iter().enumerate() {
            let mut strategy = Assign::ALL[*strategy];
            if !offers && strategy == Assign::RingAll {
                strategy = Assign::RoundRobin;
            }
            let overflow = setup.overflow.then(|| Overflow { after_secs: 30, to_team_id: TeamId((t as i64 + 1) % TEAMS + 1) });
            let config = TeamRouting {
                auto_assign: true,
                strategy,
                offer_timeout_secs: offers.then_some(20),
                sticky: true,
                overflow,
            };
            let members = members
                .iter()
                .map(|&a| TeamMemberRouting { agent: UserId(a), priority: (a * 7 % 5) as i32, weight: a as u32, team_capacity: 100 })
                .collect();
            engine.set_team(TeamId(t as i64 + 1), config, members, t0, &mut out);
        }
        Run { engine, setup, offers, now: 1_000_000, next_id: 1, live: Vec::new(), holder: HashMap::new(), status: HashMap::new() }
    }

    fn apply(&mut self, s: &Step) -> Result<(), TestCaseError> {
        self.now += 1000;
        let now = Timestamp(self.now);
        let event = match s.clone() {
            Step::Arrive { team, priority, kind, skill, sticky } => {
                let id = WorkId::Conversation(ConversationId(self.next_id));
                self.next_id += 1;
                let work = NewWork {
                    id,
                    kind: kind_of(kind),
                    team: TeamId(team),
                    priority,
                    skills: skill.map(|(s, min)| SkillRequirement { skill: SKILLS[s].into(), min_level: min }).into_iter().collect(),
                    previous_agent: sticky.map(UserId),
                    notify_position: priority == 1,
                    waiting_since: now,
                };
                self.live.push((id, work.clone()));
                RoutingEvent::Arrived { work, now }
            }
            Step::Withdraw { pick } => {
                if self.live.is_empty() {
                    return Ok(());
                }
                let (id, _) = self.live.remove(pick % self.live.len());
                self.holder.remove(&id);
                RoutingEvent::Withdrawn { work: id, now }
            }
            Step::Presence { agent, status } => {
                self.status.insert(agent, status_of(status));
                RoutingEvent::PresenceChanged { agent: UserId(agent), status: status_of(status), now }
            }
            Step::Accept { pick, agent } | Step::Decline { pick, agent } => {
                if self.live.is_empty() {
                    return Ok(());
                }
                let id = self.live[pick % self.live.len()].0;
                // Mostly answer real offers, sometimes stale ones.
                let agent = self.engine.offered_to(id).first().copied().filter(|_| agent % 3 != 0).unwrap_or(UserId(agent));
                if matches!(s, Step::Accept { .. }) {
                    RoutingEvent::OfferAccepted { work: id, agent, now }
                } else {
                    RoutingEvent::OfferDeclined { work: id, agent, now }
                }
            }
            Step::Tick { secs } => {
                self.now += i64::from(secs) * 1000;
                RoutingEvent::Tick { now: Timestamp(self.now) }
            }
        };
        let mut out = Vec::new();
        self.engine.handle(event, &mut out);
        self.check(&out)
    }

    fn check(&mut self, out: &[Decision]) -> Result<(), TestCaseError> {
        self.engine.check_invariants().map_err(TestCaseError::fail)?;
        for d in out {
            match d {
                Decision::Assigned { work, agent, .. } => {
                    // Never assigned twice.
                    prop_assert!(self.holder.insert(*work, *agent).is_none(), "{work:?} assigned twice");
                    let w = &self.live.iter().find(|(id, _)| id == work).expect("assigned work is live").1;
                    let i = (agent.0 - 1) as usize;
                    for need in &w.skills {
                        prop_assert!(self.setup.skills[i].get(&need.skill).is_some_and(|l| *l >= need.min_level), "skill mismatch");
                    }
                }
                Decision::Offered { agent, .. } => {
                    prop_assert_eq!(self.status.get(&agent.0).copied(), Some(AgentStatus::Online), "offer to someone not online");
                }
                _ => {}
            }
        }
        // Engine and model agree on who holds what.
        for (work, agent) in &self.holder {
            prop_assert_eq!(self.engine.holder(*work), Some(*agent));
        }
        // No agent above capacity (all load here comes from routing).
        for a in 1..=AGENTS {
            for kind in WorkKind::ALL {
                let cap = self.setup.capacity[(a - 1) as usize].of(kind);
                prop_assert!(self.engine.load(UserId(a), kind) <= cap, "agent {a} over {kind:?} capacity");
            }
        }
        let waiting_since: HashMap<WorkId, (u8, Timestamp)> =
            self.live.iter().map(|(id, w)| (*id, (w.priority, w.waiting_since))).collect();
        for t in 1..=TEAMS {
            let queue = self.engine.queue(TeamId(t));
            // Priority first, FIFO within one priority.
            for pair in queue.windows(2) {
                let (a, b) = (waiting_since[&pair[0]], waiting_since[&pair[1]]);
                prop_assert!(a.0 > b.0 || (a.0 == b.0 && a.1 <= b.1), "queue out of order: {a:?} before {b:?}");
            }
            for (i, w) in queue.iter().enumerate() {
                prop_assert_eq!(self.engine.position(*w), Some(i + 1));
            }
            if self.offers {
                continue;
            }
            // Direct assignment: nobody able and free is idle while work waits.
            let members = &self.setup.teams[(t - 1) as usize].0;
            for w in &queue {
                let spec = &self.live.iter().find(|(id, _)| id == w).expect("queued work is live").1;
                for &a in members {
                    let i = (a - 1) as usize;
                    let online = self.status.get(&a) == Some(&AgentStatus::Online);
                    let room = self.engine.load(UserId(a), spec.kind) < self.setup.capacity[i].of(spec.kind);
                    let skilled = spec.skills.iter().all(|n| self.setup.skills[i].get(&n.skill).is_some_and(|l| *l >= n.min_level));
                    prop_assert!(!(online && room && skilled), "agent {a} idle while {w:?} waits in team {t}");
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn direct_assignment_keeps_every_invariant(setup in setup(), steps in proptest::collection::vec(step(), 1..120)) {
        let mut run = Run::new(setup, false);
        for s in &steps {
            run.apply(s)?;
        }
    }

    #[test]
    fn offers_and_ring_all_keep_capacity_and_single_assignment(setup in setup(), steps in proptest::collection::vec(step(), 1..120)) {
        let mut run = Run::new(setup, true);
        for s in &steps {
            run.apply(s)?;
        }
    }
}
