//! Decision latency of the routing engine (issue 6): one `Engine::handle`
//! call per event, timed on its own, with 1,000 agents, 100 teams and
//! 10,000 conversations waiting, so nearly every agent is at capacity.
//!
//! The baseline, measured in the same run on the same recorded event
//! stream, is the straightforward router a first version might be: per
//! team a `Vec` queue kept sorted (priority, then arrival), the first
//! member with room on arrival, a linear scan of the agent's team queues
//! when capacity frees, position updates to those behind, and a scan of
//! every queue on each tick for overflow. It assigns directly only: no
//! strategies beyond member order, no offers (accept/decline are no-ops),
//! no sticky, no per-team capacity — so it does less work per event than
//! the engine.
//!
//! `cargo bench -p switchboard-bench --bench routing [-- events]`

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;
use switchboard_core::routing::{
    AgentProfile, AgentStatus, Capacity, Decision, Engine, NewWork, Overflow, RoutingEvent, SkillRequirement, Skills, SplitMix64,
    Strategy, TeamMemberRouting, TeamRouting, WorkId, WorkKind,
};
use switchboard_core::{ConversationId, TeamId, Timestamp, UserId};

const AGENTS: usize = 1_000;
const TEAMS: usize = 100;
const WAITING: usize = 10_000;
const WARMUP: usize = 20_000;
const EVENTS: usize = 200_000;
const SEED: u64 = 0x5EED_2026_1125;
const T0: Timestamp = Timestamp(1_700_000_000_000);
const SKILLS: [&str; 5] = ["english", "ukrainian", "german", "billing", "technical"];

// ---- scenario -------------------------------------------------------------

struct Scenario {
    agents: Vec<AgentProfile>,
    teams: Vec<(TeamRouting, Vec<TeamMemberRouting>)>,
    /// The skill some of a team's conversations need.
    team_skill: Vec<&'static str>,
}

fn scenario(rng: &mut SplitMix64) -> Scenario {
    let agents: Vec<AgentProfile> = (0..AGENTS)
        .map(|_| {
            let mut skills = Skills::new();
            if rng.below(10) < 9 {
                skills.insert(SKILLS[0].into(), 3 + rng.below(8) as u8);
            }
            for s in &SKILLS[1..] {
                if rng.below(10) < 3 {
                    skills.insert((*s).into(), 1 + rng.below(10) as u8);
                }
            }
            AgentProfile { capacity: Capacity { chat: 3 + rng.below(3) as u32, email: 5, voice: 1 }, skills }
        })
        .collect();
    // Each agent joins 1–3 distinct teams: ~2,000 memberships. Teams aim at
    // 10–30 members: of two random teams, the one further below its aim.
    let aim: Vec<usize> = (0..TEAMS).map(|_| 10 + rng.below(21) as usize).collect();
    let mut members: Vec<Vec<TeamMemberRouting>> = vec![Vec::new(); TEAMS];
    for a in 0..AGENTS {
        let k = 1 + rng.below(3) as usize;
        let mut joined: Vec<usize> = Vec::new();
        while joined.len() < k {
            let (t1, t2) = (rng.below(TEAMS as u64) as usize, rng.below(TEAMS as u64) as usize);
            let t = if members[t2].len() * aim[t1] < members[t1].len() * aim[t2] { t2 } else { t1 };
            if !joined.contains(&t) {
                joined.push(t);
            }
        }
        for t in joined {
            let team_capacity = if t % 5 == 4 { 3 } else { 100 };
            members[t].push(TeamMemberRouting {
                agent: UserId(a as i64 + 1),
                priority: rng.below(10) as i32,
                weight: 1 + rng.below(10) as u32,
                team_capacity,
            });
        }
    }
    const DIRECT: [Strategy; 7] = [
        Strategy::RoundRobin,
        Strategy::LeastBusy,
        Strategy::LongestIdle,
        Strategy::FewestHandledToday,
        Strategy::Ordered,
        Strategy::Random,
        Strategy::WeightedRandom,
    ];
    let teams = members
        .into_iter()
        .enumerate()
        .map(|(t, members)| {
            // Teams 0–1 ring everyone, 2–4 offer one agent at a time, the rest
            // assign directly with one of the seven other strategies.
            let (strategy, offer_timeout_secs) = match t {
                0 | 1 => (Strategy::RingAll, Some(20)),
                2 => (Strategy::Ordered, Some(30)),
                3 => (Strategy::RoundRobin, Some(30)),
                4 => (Strategy::LeastBusy, Some(30)),
                _ => (DIRECT[t % DIRECT.len()], None),
            };
            let overflow = (t % 10 == 9).then(|| Overflow { after_secs: 600, to_team_id: TeamId(((t + 1) % TEAMS) as i64 + 1) });
            (TeamRouting { auto_assign: true, strategy, offer_timeout_secs, sticky: t % 2 == 0, overflow }, members)
        })
        .collect();
    let team_skill = (0..TEAMS).map(|t| SKILLS[1 + t % 4]).collect();
    Scenario { agents, teams, team_skill }
}

// ---- the event stream -----------------------------------------------------

/// A set with O(1) insert, remove and uniform random pick.
struct Bag<T> {
    items: Vec<T>,
    at: HashMap<T, usize>,
}

impl<T: Copy + Eq + Hash> Bag<T> {
    fn new() -> Self {
        Bag { items: Vec::new(), at: HashMap::new() }
    }
    fn insert(&mut self, x: T) {
        if !self.at.contains_key(&x) {
            self.at.insert(x, self.items.len());
            self.items.push(x);
        }
    }
    fn remove(&mut self, x: T) -> bool {
        let Some(i) = self.at.remove(&x) else { return false };
        self.items.swap_remove(i);
        if i < self.items.len() {
            self.at.insert(self.items[i], i);
        }
        true
    }
    fn pick(&self, rng: &mut SplitMix64) -> Option<T> {
        (!self.items.is_empty()).then(|| self.items[rng.below(self.items.len() as u64) as usize])
    }
    fn len(&self) -> usize {
        self.items.len()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Arrive,
    Resolve,
    Abandon,
    Presence,
    Accept,
    Decline,
    Tick,
}

const KINDS: [(Kind, &str); 7] = [
    (Kind::Arrive, "arrival"),
    (Kind::Resolve, "resolve (frees capacity)"),
    (Kind::Abandon, "abandon (leaves queue)"),
    (Kind::Presence, "presence flip"),
    (Kind::Accept, "offer accepted"),
    (Kind::Decline, "offer declined"),
    (Kind::Tick, "tick"),
];

/// What the adapter would know from the decisions: who waits, who holds
/// what, which offers are out. Drives the next event; never timed.
struct World {
    rng: SplitMix64,
    team_skill: Vec<&'static str>,
    now: Timestamp,
    next_id: i64,
    waiting: Bag<WorkId>,
    held: Bag<WorkId>,
    offers: Bag<(WorkId, UserId)>,
    online: Bag<UserId>,
    away: Bag<UserId>,
}

impl World {
    fn observe(&mut self, out: &[Decision]) {
        for d in out {
            match *d {
                Decision::Assigned { work, agent, .. } => {
                    self.offers.remove((work, agent));
                    self.waiting.remove(work);
                    self.held.insert(work);
                }
                Decision::Queued { work, .. } => self.waiting.insert(work),
                Decision::Offered { work, agent, .. } => self.offers.insert((work, agent)),
                Decision::OfferRetracted { work, agent, .. } => {
                    self.offers.remove((work, agent));
                }
                Decision::PositionChanged { .. } | Decision::Overflowed { .. } => {}
            }
        }
    }

    fn arrival(&mut self) -> RoutingEvent {
        self.next_id += 1;
        let id = WorkId::Conversation(ConversationId(self.next_id));
        let t = self.rng.below(TEAMS as u64) as usize;
        let kind = match self.rng.below(100) {
            0..90 => WorkKind::Chat,
            90..98 => WorkKind::Email,
            _ => WorkKind::Voice,
        };
        let priority = match self.rng.below(100) {
            0..87 => 0,
            87..97 => 2,
            _ => 4,
        };
        let skills = match self.rng.below(10) {
            0 | 1 => vec![SkillRequirement { skill: self.team_skill[t].into(), min_level: 3 }],
            2 => vec![SkillRequirement { skill: SKILLS[0].into(), min_level: 5 }],
            _ => Vec::new(),
        };
        let previous_agent = (self.rng.below(4) == 0).then(|| UserId(1 + self.rng.below(AGENTS as u64) as i64));
        let work = NewWork {
            id,
            kind,
            team: TeamId(t as i64 + 1),
            priority,
            skills,
            previous_agent,
            notify_position: self.rng.below(10) < 4,
            waiting_since: self.now,
        };
        // Pending until a decision says otherwise (offers keep it waiting).
        self.waiting.insert(id);
        RoutingEvent::Arrived { work, now: self.now }
    }

    /// The next event of the mixed stream, and what kind it is.
    fn next(&mut self) -> (Kind, RoutingEvent) {
        self.now = self.now.plus_millis(1 + self.rng.below(19) as i64);
        let now = self.now;
        // Arrivals lean against the drift so that about WAITING keep waiting.
        let arrive = if self.waiting.len() < WAITING { 32 } else { 28 };
        let roll = self.rng.below(100);
        let kind = match roll {
            r if r < arrive => Kind::Arrive,
            r if r < 58 => Kind::Resolve,
            r if r < 62 => Kind::Abandon,
            r if r < 72 => Kind::Presence,
            r if r < 84 => Kind::Accept,
            r if r < 88 => Kind::Decline,
            _ => Kind::Tick,
        };
        match kind {
            Kind::Arrive => (kind, self.arrival()),
            Kind::Resolve => match self.held.pick(&mut self.rng) {
                Some(work) => {
                    self.held.remove(work);
                    (kind, RoutingEvent::Withdrawn { work, now })
                }
                None => (Kind::Tick, RoutingEvent::Tick { now }),
            },
            Kind::Abandon => match self.waiting.pick(&mut self.rng) {
                Some(work) => {
                    self.waiting.remove(work);
                    (kind, RoutingEvent::Withdrawn { work, now })
                }
                None => (Kind::Tick, RoutingEvent::Tick { now }),
            },
            Kind::Presence => {
                // About 3 % of agents are away at any time.
                let back = self.away.len() >= 40 || (self.away.len() >= 20 && self.rng.below(2) == 0);
                let (agent, status) = if back {
                    (self.away.pick(&mut self.rng), AgentStatus::Online)
                } else {
                    let status = if self.rng.below(2) == 0 { AgentStatus::Away } else { AgentStatus::Dnd };
                    (self.online.pick(&mut self.rng), status)
                };
                let Some(agent) = agent else { return (Kind::Tick, RoutingEvent::Tick { now }) };
                if back {
                    self.away.remove(agent);
                    self.online.insert(agent);
                } else {
                    self.online.remove(agent);
                    self.away.insert(agent);
                }
                (kind, RoutingEvent::PresenceChanged { agent, status, now })
            }
            Kind::Accept | Kind::Decline => match self.offers.pick(&mut self.rng) {
                Some((work, agent)) if kind == Kind::Accept => (kind, RoutingEvent::OfferAccepted { work, agent, now }),
                Some((work, agent)) => (kind, RoutingEvent::OfferDeclined { work, agent, now }),
                None => (Kind::Tick, RoutingEvent::Tick { now }),
            },
            Kind::Tick => (kind, RoutingEvent::Tick { now }),
        }
    }
}

// ---- the baseline ---------------------------------------------------------

struct NaiveAgent {
    status: AgentStatus,
    profile: AgentProfile,
    load: [u32; 3],
    teams: Vec<usize>,
}

impl NaiveAgent {
    fn can_take(&self, kind: WorkKind, skills: &[SkillRequirement]) -> bool {
        self.status == AgentStatus::Online
            && self.load[kind_index(kind)] < self.profile.capacity.of(kind)
            && skills.iter().all(|n| self.profile.skills.get(&n.skill).is_some_and(|l| *l >= n.min_level))
    }
}

struct NaiveItem {
    key: (std::cmp::Reverse<u8>, Timestamp, u64),
    work: NewWork,
    overflow_at: Option<Timestamp>,
}

struct NaiveTeam {
    members: Vec<usize>,
    /// Kept sorted by key (priority, then arrival): position = index + 1.
    queue: Vec<NaiveItem>,
    overflow: Option<Overflow>,
}

/// The baseline router (see the module docs).
struct Naive {
    agents: Vec<NaiveAgent>,
    teams: Vec<NaiveTeam>,
    held: HashMap<WorkId, (usize, WorkKind)>,
    waiting_in: HashMap<WorkId, usize>,
    seq: u64,
}

fn kind_index(k: WorkKind) -> usize {
    match k {
        WorkKind::Chat => 0,
        WorkKind::Email => 1,
        WorkKind::Voice => 2,
    }
}

impl Naive {
    fn new(s: &Scenario) -> Naive {
        let mut agents: Vec<NaiveAgent> = s
            .agents
            .iter()
            .map(|p| NaiveAgent { status: AgentStatus::Offline, profile: p.clone(), load: [0; 3], teams: Vec::new() })
            .collect();
        let teams = s
            .teams
            .iter()
            .enumerate()
            .map(|(t, (config, members))| {
                let members: Vec<usize> = members.iter().map(|m| (m.agent.0 - 1) as usize).collect();
                for &a in &members {
                    agents[a].teams.push(t);
                }
                NaiveTeam { members, queue: Vec::new(), overflow: config.overflow }
            })
            .collect();
        Naive { agents, teams, held: HashMap::new(), waiting_in: HashMap::new(), seq: 0 }
    }

    fn handle(&mut self, event: RoutingEvent, out: &mut Vec<Decision>) {
        match event {
            RoutingEvent::Arrived { work, now } => self.arrive(work, now, out),
            RoutingEvent::Withdrawn { work, .. } => {
                if let Some((a, kind)) = self.held.remove(&work) {
                    self.agents[a].load[kind_index(kind)] -= 1;
                    self.fill(a, out);
                } else if let Some(t) = self.waiting_in.remove(&work)
                    && let Some(i) = self.teams[t].queue.iter().position(|x| x.work.id == work)
                {
                    self.remove_at(t, i, out);
                }
            }
            RoutingEvent::PresenceChanged { agent, status, .. } => {
                let a = (agent.0 - 1) as usize;
                self.agents[a].status = status;
                if status == AgentStatus::Online {
                    self.fill(a, out);
                }
            }
            RoutingEvent::Tick { now } => {
                // Every queue scanned for work past its overflow time.
                let mut due = Vec::new();
                for t in 0..self.teams.len() {
                    let mut i = 0;
                    while i < self.teams[t].queue.len() {
                        let team = &self.teams[t];
                        if team.queue[i].overflow_at.is_some_and(|at| at <= now)
                            && let Some(o) = team.overflow
                        {
                            let mut work = self.remove_at(t, i, out).work;
                            work.team = o.to_team_id;
                            out.push(Decision::Overflowed { work: work.id, from: TeamId(t as i64 + 1), to: o.to_team_id });
                            due.push(work);
                        } else {
                            i += 1;
                        }
                    }
                }
                for work in due {
                    self.waiting_in.remove(&work.id);
                    self.arrive(work, now, out);
                }
            }
            RoutingEvent::OfferAccepted { .. } | RoutingEvent::OfferDeclined { .. } | RoutingEvent::TakenBy { .. } | RoutingEvent::NewDay { .. } => {}
        }
    }

    /// Takes the item out of the queue and tells those behind their place.
    fn remove_at(&mut self, t: usize, i: usize, out: &mut Vec<Decision>) -> NaiveItem {
        let q = &mut self.teams[t].queue;
        let item = q.remove(i);
        for (j, x) in q.iter().enumerate().skip(i) {
            if x.work.notify_position {
                out.push(Decision::PositionChanged { work: x.work.id, team: x.work.team, position: j + 1 });
            }
        }
        item
    }

    fn arrive(&mut self, work: NewWork, now: Timestamp, out: &mut Vec<Decision>) {
        let t = (work.team.0 - 1) as usize;
        let team = &self.teams[t];
        // First member (in member order) who can take it.
        if let Some(&a) = team.members.iter().find(|&&a| self.agents[a].can_take(work.kind, &work.skills)) {
            self.agents[a].load[kind_index(work.kind)] += 1;
            self.held.insert(work.id, (a, work.kind));
            out.push(Decision::Assigned { work: work.id, team: work.team, agent: UserId(a as i64 + 1) });
            return;
        }
        self.seq += 1;
        let key = (std::cmp::Reverse(work.priority), work.waiting_since, self.seq);
        let i = team.queue.partition_point(|x| x.key < key);
        let overflow_at = team.overflow.map(|o| now.plus_millis(i64::from(o.after_secs) * 1000));
        out.push(Decision::Queued { work: work.id, team: work.team, position: i + 1 });
        self.waiting_in.insert(work.id, t);
        self.teams[t].queue.insert(i, NaiveItem { key, work, overflow_at });
    }

    /// Gives the agent the best waiting work of their teams while they have room.
    fn fill(&mut self, a: usize, out: &mut Vec<Decision>) {
        loop {
            let agent = &self.agents[a];
            let mut best: Option<(usize, usize)> = None;
            for &t in &agent.teams {
                let q = &self.teams[t].queue;
                if let Some(i) = q.iter().position(|x| agent.can_take(x.work.kind, &x.work.skills))
                    && best.is_none_or(|(bt, bi)| q[i].key < self.teams[bt].queue[bi].key)
                {
                    best = Some((t, i));
                }
            }
            let Some((t, i)) = best else { return };
            let item = self.remove_at(t, i, out);
            self.waiting_in.remove(&item.work.id);
            self.agents[a].load[kind_index(item.work.kind)] += 1;
            self.held.insert(item.work.id, (a, item.work.kind));
            out.push(Decision::Assigned { work: item.work.id, team: item.work.team, agent: UserId(a as i64 + 1) });
        }
    }
}

// ---- measuring ------------------------------------------------------------

/// A running digest of every decision, printed so that a change to the
/// engine can be checked to decide exactly as before (same seed, same
/// digest).
fn digest(h: &mut u64, out: &[Decision]) {
    let work = |w: WorkId| match w {
        WorkId::Conversation(c) => c.0 as u64,
        WorkId::Call(n) => (n as u64) ^ (1 << 63),
    };
    for d in out {
        let words: [u64; 4] = match *d {
            Decision::Offered { work: w, team, agent, expires_at } => [1, work(w), (team.0 as u64) << 32 | agent.0 as u64, expires_at.0 as u64],
            Decision::Assigned { work: w, team, agent } => [2, work(w), team.0 as u64, agent.0 as u64],
            Decision::OfferRetracted { work: w, agent, reason } => [3, work(w), agent.0 as u64, reason as u64],
            Decision::Queued { work: w, team, position } => [4, work(w), team.0 as u64, position as u64],
            Decision::PositionChanged { work: w, team, position } => [5, work(w), team.0 as u64, position as u64],
            Decision::Overflowed { work: w, from, to } => [6, work(w), from.0 as u64, to.0 as u64],
        };
        for x in words {
            *h = (h.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

struct Stats {
    n: usize,
    total_ns: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
}

fn stats(mut ns: Vec<u64>) -> Stats {
    ns.sort_unstable();
    let n = ns.len();
    let at = |q: usize| if n == 0 { 0 } else { ns[((n * q) / 1000).min(n - 1)] };
    Stats { n, total_ns: ns.iter().sum(), p50: at(500), p90: at(900), p99: at(990), max: ns.last().copied().unwrap_or(0) }
}

fn us(ns: u64) -> String {
    format!("{:.2} µs", ns as f64 / 1000.0)
}

impl Stats {
    fn per_sec(&self) -> f64 {
        self.n as f64 / (self.total_ns.max(1) as f64 / 1e9)
    }
    fn mean(&self) -> u64 {
        self.total_ns / self.n.max(1) as u64
    }
    fn row(&self, name: &str) {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {:.0} |",
            self.n,
            us(self.p50),
            us(self.p90),
            us(self.p99),
            us(self.max),
            us(self.mean()),
            self.per_sec()
        );
    }
}

fn header() {
    println!("| events | n | p50 | p90 | p99 | max | mean | calls/s |");
    println!("|---|---|---|---|---|---|---|---|");
}

fn main() {
    let events: usize = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(EVENTS);
    let mut rng = SplitMix64::new(SEED);
    let sc = scenario(&mut rng);
    let sizes: Vec<usize> = sc.teams.iter().map(|(_, m)| m.len()).collect();
    let mut engine = Engine::new(SEED);
    let mut out = Vec::new();
    for (i, p) in sc.agents.iter().enumerate() {
        engine.set_agent(UserId(i as i64 + 1), p.clone(), T0, &mut out);
    }
    for (t, (config, members)) in sc.teams.iter().enumerate() {
        engine.set_team(TeamId(t as i64 + 1), *config, members.clone(), T0, &mut out);
    }
    let mut world = World {
        rng: SplitMix64::new(SEED ^ 0xA5A5),
        team_skill: sc.team_skill.clone(),
        now: T0,
        next_id: 0,
        waiting: Bag::new(),
        held: Bag::new(),
        offers: Bag::new(),
        online: Bag::new(),
        away: Bag::new(),
    };
    // Every event goes into `log` so the baseline replays exactly the same.
    let mut log: Vec<RoutingEvent> = Vec::new();
    let mut fingerprint = 0u64;
    let send = |engine: &mut Engine, world: &mut World, log: &mut Vec<RoutingEvent>, h: &mut u64, e: RoutingEvent| {
        log.push(e.clone());
        let mut out = Vec::new();
        engine.handle(e, &mut out);
        world.observe(&out);
        digest(h, &out);
    };
    for a in 1..=AGENTS as i64 {
        world.online.insert(UserId(a));
        send(&mut engine, &mut world, &mut log, &mut fingerprint, RoutingEvent::PresenceChanged { agent: UserId(a), status: AgentStatus::Online, now: T0 });
    }
    // Steady state: arrivals (offers accepted at once) until WAITING wait.
    while world.waiting.len() < WAITING {
        world.now = world.now.plus_millis(10);
        let e = world.arrival();
        send(&mut engine, &mut world, &mut log, &mut fingerprint, e);
        while let Some((work, agent)) = world.offers.pick(&mut world.rng) {
            let e = RoutingEvent::OfferAccepted { work, agent, now: world.now };
            send(&mut engine, &mut world, &mut log, &mut fingerprint, e);
        }
    }
    let setup_events = log.len();
    let busy = (1..=AGENTS as i64).filter(|&a| engine.load(UserId(a), WorkKind::Chat) >= sc.agents[(a - 1) as usize].capacity.chat).count();
    println!(
        "routing: {AGENTS} agents, {TEAMS} teams ({}–{} members, {} memberships), {} waiting, {} held, {busy} agents at chat capacity after {setup_events} setup events",
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
        sizes.iter().sum::<usize>(),
        world.waiting.len(),
        world.held.len(),
    );

    // Warm-up, then the measured stream: each handle call timed on its own.
    let mut samples: Vec<(Kind, u64)> = Vec::with_capacity(events);
    let mut decisions = 0usize;
    // Offered, assigned, retracted, queued, position changed, overflowed.
    let mut by_kind = [0usize; 6];
    for i in 0..WARMUP + events {
        let (kind, e) = world.next();
        log.push(e.clone());
        out.clear();
        let t = Instant::now();
        engine.handle(e, &mut out);
        let ns = t.elapsed().as_nanos() as u64;
        world.observe(&out);
        digest(&mut fingerprint, &out);
        if i >= WARMUP {
            samples.push((kind, ns));
            decisions += out.len();
            for d in &out {
                by_kind[match d {
                    Decision::Offered { .. } => 0,
                    Decision::Assigned { .. } => 1,
                    Decision::OfferRetracted { .. } => 2,
                    Decision::Queued { .. } => 3,
                    Decision::PositionChanged { .. } => 4,
                    Decision::Overflowed { .. } => 5,
                }] += 1;
            }
        }
    }
    let engine_all = stats(samples.iter().map(|s| s.1).collect());
    let end_waiting = world.waiting.len();
    let end_held = world.held.len();
    let invariants = engine.check_invariants();

    // Baseline: the naive router on the same log (setup and warm-up untimed).
    let mut naive = Naive::new(&sc);
    let measured_from = setup_events + WARMUP;
    let mut naive_samples: Vec<(Kind, u64)> = Vec::with_capacity(events);
    let mut naive_decisions = 0usize;
    for (i, e) in log.into_iter().enumerate() {
        out.clear();
        let t = Instant::now();
        naive.handle(e, &mut out);
        let ns = t.elapsed().as_nanos() as u64;
        if i >= measured_from {
            naive_samples.push((samples[i - measured_from].0, ns));
            naive_decisions += out.len();
        }
    }
    let naive_waiting: usize = naive.teams.iter().map(|t| t.queue.len()).sum();
    let naive_all = stats(naive_samples.iter().map(|s| s.1).collect());

    // What timing itself costs: an empty timed region.
    let empty = stats(
        (0..events)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(());
                t.elapsed().as_nanos() as u64
            })
            .collect(),
    );

    println!("measured {events} events after {WARMUP} warm-up; at the end {end_waiting} waiting, {end_held} held; invariants {invariants:?}");
    println!("decision digest {fingerprint:016x} (same seed and engine behaviour → same digest)");
    println!();
    println!("engine, per Engine::handle call:");
    header();
    engine_all.row("all (mixed stream)");
    for (k, name) in KINDS {
        stats(samples.iter().filter(|s| s.0 == k).map(|s| s.1).collect()).row(name);
    }
    println!();
    println!("baseline (naive router, same events; {naive_waiting} waiting at the end):");
    header();
    naive_all.row("all (mixed stream)");
    for (k, name) in KINDS {
        stats(naive_samples.iter().filter(|s| s.0 == k).map(|s| s.1).collect()).row(name);
    }
    println!();
    let secs = engine_all.total_ns as f64 / 1e9;
    println!(
        "engine: {:.0} events/s, {decisions} decisions = {:.0} decisions/s (time inside handle only); baseline {naive_decisions} decisions",
        engine_all.per_sec(),
        decisions as f64 / secs
    );
    let [offered, assigned, retracted, queued, moved, overflowed] = by_kind;
    println!(
        "engine decisions: {assigned} assigned, {offered} offered, {retracted} offers retracted, {queued} queued, {moved} position updates, {overflowed} overflowed"
    );
    println!(
        "ratio baseline / engine: p50 {:.2}×, p99 {:.2}×, mean {:.2}×; timer overhead p50 {} (included in every sample)",
        naive_all.p50 as f64 / engine_all.p50.max(1) as f64,
        naive_all.p99 as f64 / engine_all.p99.max(1) as f64,
        naive_all.mean() as f64 / engine_all.mean().max(1) as f64,
        us(empty.p50)
    );
    println!(
        "target p99 ≤ 20 µs: {}",
        if engine_all.p99 <= 20_000 { "met" } else { "MISSED" }
    );
}
