//! The routing state machine: agents, teams with their queues, outstanding
//! offers and timers. Every public method is deterministic given the seed.

use super::rng::SplitMix64;
use super::strategy::{choose, Candidate, Strategy};
use super::*;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The engine's maps are keyed by our own ids (database row ids), never by
/// text from outside, so they need no protection against chosen keys;
/// SipHash was over a third of the time in the first profile of the
/// routing benchmark (docs/BENCHMARKS.md). This is the Fx multiply-rotate
/// hash (rustc's), written out to keep `core` free of another dependency.
/// Being unseeded, it also makes map iteration order the same in every
/// run.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl IdHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A 64-bit summary of a set of skill names (one bit per name, by hash).
/// If work needs a bit the agent's mask lacks, the agent lacks a skill it
/// needs; the converse is not certain, so a match is checked in full.
fn skill_mask<'a>(names: impl IntoIterator<Item = &'a String>) -> u64 {
    names.into_iter().fold(0, |mask, name| {
        // FNV-1a: fixed, so masks are the same in every run.
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        mask | 1 << (h % 64)
    })
}

/// Queue order: higher priority first, then longest waiting, then arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct QueueKey {
    rank: Reverse<u8>,
    waiting_since: Timestamp,
    seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    OfferExpiry(UserId),
    Overflow,
}

type Timer = (Timestamp, WorkId, TimerKind);

/// A queue entry: what dispatch and position updates need without looking
/// the work up.
#[derive(Debug, Clone, Copy)]
struct Queued {
    work: WorkId,
    kind: WorkKind,
    notify: bool,
    /// `skill_mask` of the skills the work needs.
    needs: u64,
}

#[derive(Debug)]
struct Agent {
    status: AgentStatus,
    profile: AgentProfile,
    /// Held plus offered work, per kind.
    load: [u32; 3],
    teams: Vec<TeamId>,
    last_activity: Timestamp,
    handled_today: u32,
    offers: Vec<WorkId>,
    /// `skill_mask` of the profile's skills.
    skill_mask: u64,
}

impl Agent {
    fn new() -> Agent {
        Agent {
            status: AgentStatus::Offline,
            profile: AgentProfile::default(),
            load: [0; 3],
            teams: Vec::new(),
            last_activity: Timestamp(0),
            handled_today: 0,
            offers: Vec::new(),
            skill_mask: 0,
        }
    }
    fn total_load(&self) -> u32 {
        self.load.iter().sum()
    }
    fn has_room(&self, kind: WorkKind) -> bool {
        self.status == AgentStatus::Online && self.load[kind.index()] < self.profile.capacity.of(kind)
    }
    fn has_skills(&self, needs: &[SkillRequirement]) -> bool {
        needs.iter().all(|n| self.profile.skills.get(&n.skill).is_some_and(|&level| level >= n.min_level))
    }
}

#[derive(Debug)]
struct Team {
    config: TeamRouting,
    members: Vec<TeamMemberRouting>,
    /// Member index that got the last piece of work (round-robin memory).
    last_index: Option<usize>,
    queue: BTreeMap<QueueKey, Queued>,
    /// Queued work per kind: dispatch stops once no kind that waits has room.
    waiting: [usize; 3],
    /// Work held or offered per member, counted against `team_capacity`.
    member_load: HashMap<UserId, u32>,
    /// How many queued items want position updates (skip the walk if none).
    notifying: usize,
}

impl Team {
    fn new(config: TeamRouting) -> Team {
        Team {
            config,
            members: Vec::new(),
            last_index: None,
            queue: BTreeMap::new(),
            waiting: [0; 3],
            member_load: HashMap::default(),
            notifying: 0,
        }
    }
}

#[derive(Debug)]
enum Stage {
    Waiting,
    Offered { agents: Vec<(UserId, Timestamp)> },
}

/// Work waiting for an agent (queued, possibly with offers out).
#[derive(Debug)]
struct Pending {
    spec: NewWork,
    key: QueueKey,
    stage: Stage,
    /// Agents who declined or let an offer expire: not asked again until
    /// everyone able to take it has been.
    passed: Vec<UserId>,
    /// Everyone passed this round: wait for the next tick to start over.
    resting: bool,
    overflow_at: Option<Timestamp>,
}

/// Team members with room for one kind of work, found by dispatch.
#[derive(Debug, Default)]
struct Free {
    /// Member indices, in member order.
    members: Vec<usize>,
    /// Their agents' skill masks, in the same order.
    masks: Vec<u64>,
}

/// Work an agent holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    agent: UserId,
    kind: WorkKind,
    team: Option<TeamId>,
}

/// The routing engine for one workspace. See the module docs of
/// [`crate::routing`].
#[derive(Debug)]
pub struct Engine {
    agents: HashMap<UserId, Agent>,
    teams: HashMap<TeamId, Team>,
    pending: HashMap<WorkId, Pending>,
    held: HashMap<WorkId, Held>,
    timers: BTreeSet<Timer>,
    /// Teams whose every able agent passed on some work: retried on the
    /// next tick rather than in a tight loop.
    retry: BTreeSet<TeamId>,
    /// Work whose `resting` flag is set (cleared on the next tick), so a
    /// tick does not walk everything pending.
    resting: Vec<WorkId>,
    seq: u64,
    rng: SplitMix64,
    candidate_buf: Vec<Candidate>,
    free_buf: [Free; 3],
}

impl Engine {
    pub fn new(seed: u64) -> Engine {
        Engine {
            agents: HashMap::default(),
            teams: HashMap::default(),
            pending: HashMap::default(),
            held: HashMap::default(),
            timers: BTreeSet::new(),
            retry: BTreeSet::new(),
            resting: Vec::new(),
            seq: 0,
            rng: SplitMix64::new(seed),
            candidate_buf: Vec::new(),
            free_buf: Default::default(),
        }
    }

    // ---- configuration -------------------------------------------------

    /// Creates or updates an agent's capacity and skills (status and load
    /// are kept). More capacity may place waiting work at once.
    pub fn set_agent(&mut self, agent: UserId, profile: AgentProfile, now: Timestamp, out: &mut Vec<Decision>) {
        let a = self.agents.entry(agent).or_insert_with(Agent::new);
        a.skill_mask = skill_mask(profile.skills.keys());
        a.profile = profile;
        self.dispatch_agent(agent, now, out);
    }

    /// Creates or updates a team: settings and members (in the order the
    /// strategies use for ties and round-robin).
    pub fn set_team(&mut self, id: TeamId, config: TeamRouting, members: Vec<TeamMemberRouting>, now: Timestamp, out: &mut Vec<Decision>) {
        let team = self.teams.entry(id).or_insert_with(|| Team::new(config));
        team.config = config;
        let old: Vec<UserId> = team.members.iter().map(|m| m.agent).collect();
        team.members = members;
        team.last_index = team.last_index.filter(|&i| i < team.members.len());
        let new: Vec<UserId> = team.members.iter().map(|m| m.agent).collect();
        for a in old.iter().filter(|a| !new.contains(a)) {
            if let Some(agent) = self.agents.get_mut(a) {
                agent.teams.retain(|t| *t != id);
            }
        }
        for a in &new {
            let agent = self.agents.entry(*a).or_insert_with(Agent::new);
            if !agent.teams.contains(&id) {
                agent.teams.push(id);
            }
        }
        // Offers to people who left the team are off.
        let leaving: Vec<(WorkId, UserId)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.spec.team == id)
            .flat_map(|(w, p)| match &p.stage {
                Stage::Offered { agents } => agents.iter().filter(|(a, _)| !new.contains(a)).map(|(a, _)| (*w, *a)).collect(),
                Stage::Waiting => Vec::new(),
            })
            .collect();
        let mut freed = Vec::new();
        for (work, agent) in leaving {
            self.end_offer(work, agent, RetractReason::AgentUnavailable, now, out);
            freed.push(agent);
        }
        self.dispatch_team(id, now, out);
        // Their room is back: their other teams may have work for them.
        for agent in freed {
            self.dispatch_agent(agent, now, out);
        }
    }

    /// Removes a team. Its waiting work leaves routing; the ids are returned
    /// so the adapter can leave them unassigned.
    pub fn remove_team(&mut self, id: TeamId, now: Timestamp, out: &mut Vec<Decision>) -> Vec<WorkId> {
        let waiting: Vec<WorkId> = self.teams.get(&id).map(|t| t.queue.values().map(|q| q.work).collect()).unwrap_or_default();
        for w in &waiting {
            self.withdraw(*w, now, out);
        }
        if let Some(team) = self.teams.remove(&id) {
            for m in team.members {
                if let Some(agent) = self.agents.get_mut(&m.agent) {
                    agent.teams.retain(|t| *t != id);
                }
            }
        }
        for h in self.held.values_mut() {
            if h.team == Some(id) {
                h.team = None;
            }
        }
        waiting
    }

    // ---- events --------------------------------------------------------

    pub fn handle(&mut self, event: RoutingEvent, out: &mut Vec<Decision>) {
        match event {
            RoutingEvent::Arrived { work, now } => self.arrive(work, now, out),
            RoutingEvent::Withdrawn { work, now } => self.withdraw(work, now, out),
            RoutingEvent::TakenBy { work, kind, team, agent, now } => self.taken_by(work, kind, team, agent, now, out),
            RoutingEvent::PresenceChanged { agent, status, now } => self.presence(agent, status, now, out),
            RoutingEvent::OfferAccepted { work, agent, now } => self.accept(work, agent, now, out),
            RoutingEvent::OfferDeclined { work, agent, now } => {
                if self.is_offered(work, agent) {
                    self.pass(work, agent, RetractReason::Declined, now, out);
                }
            }
            RoutingEvent::Tick { now } => self.tick(now, out),
            RoutingEvent::NewDay { .. } => {
                for a in self.agents.values_mut() {
                    a.handled_today = 0;
                }
            }
        }
    }

    /// When the engine next needs a `Tick` (an offer expires, a queue
    /// overflows, or a retry is due).
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// Whether some team waits for a retry tick after everyone passed.
    pub fn has_retries(&self) -> bool {
        !self.retry.is_empty()
    }

    // ---- queries -------------------------------------------------------

    /// 1-based position of waiting work in its team's queue.
    pub fn position(&self, work: WorkId) -> Option<usize> {
        let p = self.pending.get(&work)?;
        let team = self.teams.get(&p.spec.team)?;
        Some(team.queue.range(..p.key).count() + 1)
    }

    /// Waiting work of a team, in queue order.
    pub fn queue(&self, team: TeamId) -> Vec<WorkId> {
        self.teams.get(&team).map(|t| t.queue.values().map(|q| q.work).collect()).unwrap_or_default()
    }

    pub fn queue_len(&self, team: TeamId) -> usize {
        self.teams.get(&team).map_or(0, |t| t.queue.len())
    }

    /// Who holds the work, if anyone.
    pub fn holder(&self, work: WorkId) -> Option<UserId> {
        self.held.get(&work).map(|h| h.agent)
    }

    /// Agents the work is being offered to right now.
    pub fn offered_to(&self, work: WorkId) -> Vec<UserId> {
        match self.pending.get(&work).map(|p| &p.stage) {
            Some(Stage::Offered { agents }) => agents.iter().map(|(a, _)| *a).collect(),
            _ => Vec::new(),
        }
    }

    /// What is offered to an agent right now: work, team, expiry.
    pub fn offers_of(&self, agent: UserId) -> Vec<(WorkId, TeamId, Timestamp)> {
        let Some(a) = self.agents.get(&agent) else { return Vec::new() };
        a.offers
            .iter()
            .filter_map(|w| {
                let p = self.pending.get(w)?;
                let Stage::Offered { agents } = &p.stage else { return None };
                agents.iter().find(|(x, _)| *x == agent).map(|(_, at)| (*w, p.spec.team, *at))
            })
            .collect()
    }

    /// Whether work waits in a queue (offered or not).
    pub fn is_waiting(&self, work: WorkId) -> bool {
        self.pending.contains_key(&work)
    }

    /// Held plus offered work of an agent, per kind.
    pub fn load(&self, agent: UserId, kind: WorkKind) -> u32 {
        self.agents.get(&agent).map_or(0, |a| a.load[kind.index()])
    }

    pub fn status(&self, agent: UserId) -> Option<AgentStatus> {
        self.agents.get(&agent).map(|a| a.status)
    }

    /// Checks the engine's bookkeeping against a recount; for tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut load: HashMap<UserId, [u32; 3]> = HashMap::default();
        let mut team_load: HashMap<(TeamId, UserId), u32> = HashMap::default();
        for (w, h) in &self.held {
            if self.pending.contains_key(w) {
                return Err(format!("{w:?} is both held and pending"));
            }
            load.entry(h.agent).or_default()[h.kind.index()] += 1;
            if let Some(t) = h.team {
                *team_load.entry((t, h.agent)).or_default() += 1;
            }
        }
        for (w, p) in &self.pending {
            let team = self.teams.get(&p.spec.team).ok_or_else(|| format!("{w:?} waits in a missing team"))?;
            let needs = skill_mask(p.spec.skills.iter().map(|s| &s.skill));
            if !team.queue.get(&p.key).is_some_and(|q| q.work == *w && q.kind == p.spec.kind && q.notify == p.spec.notify_position && q.needs == needs) {
                return Err(format!("{w:?} is not in its team's queue"));
            }
            if let Stage::Offered { agents } = &p.stage {
                for (a, _) in agents {
                    load.entry(*a).or_default()[p.spec.kind.index()] += 1;
                    *team_load.entry((p.spec.team, *a)).or_default() += 1;
                    if !self.agents.get(a).is_some_and(|ag| ag.offers.contains(w)) {
                        return Err(format!("offer of {w:?} to {a:?} not listed on the agent"));
                    }
                }
            }
        }
        for (tid, t) in &self.teams {
            let mut waiting = [0; 3];
            for q in t.queue.values() {
                waiting[q.kind.index()] += 1;
            }
            if waiting != t.waiting {
                return Err(format!("team {tid:?} counts {:?} waiting per kind, recount {waiting:?}", t.waiting));
            }
        }
        let queued: usize = self.teams.values().map(|t| t.queue.len()).sum();
        if queued != self.pending.len() {
            return Err(format!("{queued} queued but {} pending", self.pending.len()));
        }
        for (id, a) in &self.agents {
            if a.skill_mask != skill_mask(a.profile.skills.keys()) {
                return Err(format!("agent {id:?} skill mask is stale"));
            }
            let want = load.get(id).copied().unwrap_or([0; 3]);
            if a.load != want {
                return Err(format!("agent {id:?} load {:?}, recount {want:?}", a.load));
            }
        }
        for (tid, t) in &self.teams {
            for (agent, n) in &t.member_load {
                if *n != team_load.get(&(*tid, *agent)).copied().unwrap_or(0) {
                    return Err(format!("team {tid:?} load of {agent:?} is {n}, recount differs"));
                }
            }
        }
        Ok(())
    }

    // ---- internals -----------------------------------------------------

    fn arrive(&mut self, spec: NewWork, now: Timestamp, out: &mut Vec<Decision>) {
        let id = spec.id;
        if self.pending.contains_key(&id) || self.held.contains_key(&id) {
            self.withdraw(id, now, out);
        }
        let Some(team) = self.teams.get_mut(&spec.team) else { return };
        if !team.config.auto_assign {
            return;
        }
        self.seq += 1;
        let key = QueueKey { rank: Reverse(spec.priority), waiting_since: spec.waiting_since, seq: self.seq };
        let overflow_at = team.config.overflow.map(|o| now.plus_millis(i64::from(o.after_secs) * 1000));
        let needs = skill_mask(spec.skills.iter().map(|s| &s.skill));
        team.queue.insert(key, Queued { work: id, kind: spec.kind, notify: spec.notify_position, needs });
        team.waiting[spec.kind.index()] += 1;
        if spec.notify_position {
            team.notifying += 1;
        }
        let team_id = spec.team;
        if let Some(at) = overflow_at {
            self.timers.insert((at, id, TimerKind::Overflow));
        }
        self.pending.insert(id, Pending { spec, key, stage: Stage::Waiting, passed: Vec::new(), resting: false, overflow_at });
        if !self.place(id, now, out)
            && let Some(position) = self.position(id)
        {
            out.push(Decision::Queued { work: id, team: team_id, position });
            // Jumping ahead (higher priority) moves those behind back.
            if let Some(team) = self.teams.get(&team_id)
                && team.notifying > 0
            {
                for (i, (_, q)) in team.queue.range(key..).enumerate().skip(1) {
                    if q.notify {
                        out.push(Decision::PositionChanged { work: q.work, team: team_id, position: position + i });
                    }
                }
            }
        }
    }

    /// Offers or assigns waiting work to the agent(s) the team's strategy
    /// picks. Returns false if nobody can take it now.
    fn place(&mut self, id: WorkId, now: Timestamp, out: &mut Vec<Decision>) -> bool {
        self.place_among(id, None, now, out)
    }

    /// `among`: indices of the team's members that include everyone with
    /// room for the work's kind (dispatch works them out once for the
    /// whole queue); None: all members.
    fn place_among(&mut self, id: WorkId, among: Option<&[usize]>, now: Timestamp, out: &mut Vec<Decision>) -> bool {
        // One candidate list reused across calls: placing is the hot path.
        let mut candidates = std::mem::take(&mut self.candidate_buf);
        candidates.clear();
        let placed = self.place_with(id, among, now, &mut candidates, out);
        self.candidate_buf = candidates;
        placed
    }

    fn place_with(&mut self, id: WorkId, among: Option<&[usize]>, now: Timestamp, candidates: &mut Vec<Candidate>, out: &mut Vec<Decision>) -> bool {
        let Some(p) = self.pending.get(&id) else { return false };
        if !matches!(p.stage, Stage::Waiting) || p.resting {
            return false;
        }
        let (team_id, kind, previous) = (p.spec.team, p.spec.kind, p.spec.previous_agent);
        let Some(team) = self.teams.get(&team_id) else { return false };
        let (config, last_index) = (team.config, team.last_index);
        self.candidates(team, p, among, candidates);
        if candidates.is_empty() {
            let mut members = Self::members(team, among);
            if !p.passed.is_empty() && members.any(|(_, m)| self.able(team, m, p, false)) {
                // Everyone able has passed on it: a new round starts on the
                // next tick rather than ringing the same people in a loop.
                if let Some(p) = self.pending.get_mut(&id) {
                    p.passed.clear();
                    p.resting = true;
                }
                self.resting.push(id);
                self.retry.insert(team_id);
            }
            return false;
        }
        if config.sticky
            && let Some(prev) = previous
            && let Some(i) = candidates.iter().position(|c| c.agent == prev)
        {
            candidates.swap(0, i);
            candidates.truncate(1);
        }
        if config.strategy != Strategy::RingAll || candidates.len() == 1 {
            let i = choose(config.strategy, candidates, last_index, &mut self.rng);
            candidates.swap(0, i);
            candidates.truncate(1);
        }
        match config.offer_timeout_secs {
            Some(secs) => {
                let expires_at = now.plus_millis(i64::from(secs) * 1000);
                let mut agents = Vec::with_capacity(candidates.len());
                for c in candidates.iter() {
                    self.reserve(c.agent, team_id, kind, 1);
                    if let Some(a) = self.agents.get_mut(&c.agent) {
                        a.offers.push(id);
                    }
                    self.timers.insert((expires_at, id, TimerKind::OfferExpiry(c.agent)));
                    agents.push((c.agent, expires_at));
                    out.push(Decision::Offered { work: id, team: team_id, agent: c.agent, expires_at });
                }
                if let Some(p) = self.pending.get_mut(&id) {
                    p.stage = Stage::Offered { agents };
                }
            }
            None => {
                let agent = candidates[0].agent;
                self.reserve(agent, team_id, kind, 1);
                self.assign(id, agent, now, out);
            }
        }
        true
    }

    /// The team's members (or those listed in `among`) with their index, in
    /// member order.
    fn members<'t>(team: &'t Team, among: Option<&'t [usize]>) -> impl Iterator<Item = (usize, &'t TeamMemberRouting)> + 't {
        let all = among.is_none().then(|| team.members.iter().enumerate());
        let some = among.map(|ix| ix.iter().filter_map(|&i| team.members.get(i).map(|m| (i, m))));
        all.into_iter().flatten().chain(some.into_iter().flatten())
    }

    /// Members able to take the work now who have not passed on it this
    /// round, in member order, into `into`.
    fn candidates(&self, team: &Team, p: &Pending, among: Option<&[usize]>, into: &mut Vec<Candidate>) {
        for (member_index, m) in Self::members(team, among) {
            if !self.able(team, m, p, true) {
                continue;
            }
            let Some(a) = self.agents.get(&m.agent) else { continue };
            into.push(Candidate {
                agent: m.agent,
                member_index,
                priority: m.priority,
                weight: m.weight,
                load: a.total_load(),
                last_activity: a.last_activity,
                handled_today: a.handled_today,
            });
        }
    }

    /// Whether a member can take the work now; `skip_passed` leaves out
    /// those who passed on it this round.
    fn able(&self, team: &Team, m: &TeamMemberRouting, p: &Pending, skip_passed: bool) -> bool {
        let Some(a) = self.agents.get(&m.agent) else { return false };
        let kind = p.spec.kind;
        // Cheapest tests first: most members are at capacity.
        a.has_room(kind)
            && team.member_load.get(&m.agent).copied().unwrap_or(0) < m.team_capacity
            && a.has_skills(&p.spec.skills)
            && !(skip_passed && p.passed.contains(&m.agent))
    }

    fn reserve(&mut self, agent: UserId, team: TeamId, kind: WorkKind, delta: i32) {
        if let Some(a) = self.agents.get_mut(&agent) {
            let slot = &mut a.load[kind.index()];
            *slot = slot.saturating_add_signed(delta);
        }
        if let Some(t) = self.teams.get_mut(&team) {
            let n = t.member_load.entry(agent).or_insert(0);
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                t.member_load.remove(&agent);
            }
        }
    }

    /// Pending work becomes held by `agent`, whose capacity is already
    /// reserved for it.
    fn assign(&mut self, id: WorkId, agent: UserId, now: Timestamp, out: &mut Vec<Decision>) {
        let Some(p) = self.remove_pending(id, now, out) else { return };
        let team_id = p.spec.team;
        if let Some(team) = self.teams.get_mut(&team_id) {
            team.last_index = team.members.iter().position(|m| m.agent == agent).or(team.last_index);
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.handled_today += 1;
            a.last_activity = now;
        }
        self.held.insert(id, Held { agent, kind: p.spec.kind, team: Some(team_id) });
        out.push(Decision::Assigned { work: id, team: team_id, agent });
    }

    /// Takes work out of its queue and timers; tells those behind their new
    /// place. Offers must already be settled by the caller.
    fn remove_pending(&mut self, id: WorkId, _now: Timestamp, out: &mut Vec<Decision>) -> Option<Pending> {
        let p = self.pending.remove(&id)?;
        if let Some(at) = p.overflow_at {
            self.timers.remove(&(at, id, TimerKind::Overflow));
        }
        if let Some(team) = self.teams.get_mut(&p.spec.team) {
            if team.queue.remove(&p.key).is_some() {
                team.waiting[p.spec.kind.index()] -= 1;
            }
            if p.spec.notify_position {
                team.notifying -= 1;
            }
            if team.notifying > 0 {
                // One walk: count those ahead, then tell those behind.
                for (i, (key, q)) in team.queue.iter().enumerate() {
                    if q.notify && *key > p.key {
                        out.push(Decision::PositionChanged { work: q.work, team: p.spec.team, position: i + 1 });
                    }
                }
            }
        }
        Some(p)
    }

    fn is_offered(&self, work: WorkId, agent: UserId) -> bool {
        matches!(self.pending.get(&work).map(|p| &p.stage), Some(Stage::Offered { agents }) if agents.iter().any(|(a, _)| *a == agent))
    }

    /// Ends one offer and frees what it reserved (without re-placing).
    fn end_offer(&mut self, work: WorkId, agent: UserId, reason: RetractReason, _now: Timestamp, out: &mut Vec<Decision>) {
        let Some(p) = self.pending.get_mut(&work) else { return };
        let Stage::Offered { agents } = &mut p.stage else { return };
        let Some(i) = agents.iter().position(|(a, _)| *a == agent) else { return };
        let (_, expires_at) = agents.remove(i);
        if agents.is_empty() {
            p.stage = Stage::Waiting;
        }
        let (team, kind) = (p.spec.team, p.spec.kind);
        self.timers.remove(&(expires_at, work, TimerKind::OfferExpiry(agent)));
        self.reserve(agent, team, kind, -1);
        if let Some(a) = self.agents.get_mut(&agent) {
            a.offers.retain(|w| *w != work);
        }
        out.push(Decision::OfferRetracted { work, agent, reason });
    }

    /// An agent declined or let an offer expire: note it, move on.
    fn pass(&mut self, work: WorkId, agent: UserId, reason: RetractReason, now: Timestamp, out: &mut Vec<Decision>) {
        self.end_offer(work, agent, reason, now, out);
        if let Some(p) = self.pending.get_mut(&work) {
            p.passed.push(agent);
        }
        self.place(work, now, out);
        self.dispatch_agent(agent, now, out);
    }

    fn accept(&mut self, work: WorkId, agent: UserId, now: Timestamp, out: &mut Vec<Decision>) {
        if !self.is_offered(work, agent) {
            return;
        }
        let others: Vec<UserId> = self.offered_to(work).into_iter().filter(|a| *a != agent).collect();
        for other in &others {
            self.end_offer(work, *other, RetractReason::TakenElsewhere, now, out);
        }
        // Keep the winner's reservation: it becomes the held work.
        if let Some(p) = self.pending.get_mut(&work)
            && let Stage::Offered { agents } = &mut p.stage
        {
            for (_, at) in agents.drain(..) {
                self.timers.remove(&(at, work, TimerKind::OfferExpiry(agent)));
            }
            p.stage = Stage::Waiting;
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.offers.retain(|w| *w != work);
        }
        self.assign(work, agent, now, out);
        for other in others {
            self.dispatch_agent(other, now, out);
        }
    }

    fn withdraw(&mut self, work: WorkId, now: Timestamp, out: &mut Vec<Decision>) {
        if let Some(h) = self.held.remove(&work) {
            if let Some(a) = self.agents.get_mut(&h.agent) {
                a.load[h.kind.index()] = a.load[h.kind.index()].saturating_sub(1);
                a.last_activity = now;
            }
            if let Some(team) = h.team
                && let Some(t) = self.teams.get_mut(&team)
                && let Some(n) = t.member_load.get_mut(&h.agent)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    t.member_load.remove(&h.agent);
                }
            }
            self.dispatch_agent(h.agent, now, out);
            return;
        }
        let freed = self.settle_offers(work, RetractReason::Withdrawn, now, out);
        self.remove_pending(work, now, out);
        for agent in freed {
            self.dispatch_agent(agent, now, out);
        }
    }

    /// Retracts every offer of pending work; returns the agents freed.
    fn settle_offers(&mut self, work: WorkId, reason: RetractReason, now: Timestamp, out: &mut Vec<Decision>) -> Vec<UserId> {
        let agents = self.offered_to(work);
        for a in &agents {
            self.end_offer(work, *a, reason, now, out);
        }
        agents
    }

    fn taken_by(&mut self, work: WorkId, kind: WorkKind, team: Option<TeamId>, agent: UserId, now: Timestamp, out: &mut Vec<Decision>) {
        if self.held.get(&work).is_some_and(|h| h.agent == agent) {
            return;
        }
        let freed = self.settle_offers(work, RetractReason::TakenElsewhere, now, out);
        let (kind, team) = match self.remove_pending(work, now, out) {
            Some(p) => (p.spec.kind, Some(p.spec.team)),
            None => (kind, team),
        };
        if self.held.contains_key(&work) {
            // Handed from one agent to another: the first one is free again.
            self.withdraw(work, now, out);
        }
        self.agents.entry(agent).or_insert_with(Agent::new);
        let team = team.filter(|t| self.teams.contains_key(t));
        match team {
            Some(t) => self.reserve(agent, t, kind, 1),
            None => {
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.load[kind.index()] += 1;
                }
            }
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.last_activity = now;
        }
        self.held.insert(work, Held { agent, kind, team });
        for a in freed {
            self.dispatch_agent(a, now, out);
        }
    }

    fn presence(&mut self, agent: UserId, status: AgentStatus, now: Timestamp, out: &mut Vec<Decision>) {
        let a = self.agents.entry(agent).or_insert_with(Agent::new);
        if a.status == status {
            return;
        }
        a.status = status;
        if status == AgentStatus::Online {
            self.dispatch_agent(agent, now, out);
            return;
        }
        // Offers to someone who stepped away move on to the next agent.
        let offers = a.offers.clone();
        for work in offers {
            self.end_offer(work, agent, RetractReason::AgentUnavailable, now, out);
            self.place(work, now, out);
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut Vec<Decision>) {
        while let Some(&(at, work, kind)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match kind {
                TimerKind::OfferExpiry(agent) => {
                    if self.is_offered(work, agent) {
                        self.pass(work, agent, RetractReason::TimedOut, now, out);
                    }
                }
                TimerKind::Overflow => self.overflow(work, now, out),
            }
        }
        if self.retry.is_empty() {
            return;
        }
        let retry = std::mem::take(&mut self.retry);
        for work in std::mem::take(&mut self.resting) {
            if let Some(p) = self.pending.get_mut(&work) {
                p.resting = false;
            }
        }
        for team in retry {
            self.dispatch_team(team, now, out);
        }
    }

    fn overflow(&mut self, work: WorkId, now: Timestamp, out: &mut Vec<Decision>) {
        let Some(p) = self.pending.get_mut(&work) else { return };
        p.overflow_at = None;
        if !matches!(p.stage, Stage::Waiting) {
            // Ringing someone right now: look again in a second, so work
            // whose offers keep failing still overflows.
            let at = now.plus_millis(1000);
            p.overflow_at = Some(at);
            self.timers.insert((at, work, TimerKind::Overflow));
            return;
        }
        let from = p.spec.team;
        let Some(to) = self.teams.get(&from).and_then(|t| t.config.overflow).map(|o| o.to_team_id) else { return };
        if to == from || !self.teams.contains_key(&to) {
            return;
        }
        let Some(mut p) = self.remove_pending(work, now, out) else { return };
        p.spec.team = to;
        out.push(Decision::Overflowed { work, from, to });
        self.arrive(p.spec, now, out);
    }

    /// Offers waiting work of the agent's teams while the agent has room:
    /// the team whose head waits longest (by priority) goes first.
    fn dispatch_agent(&mut self, agent: UserId, now: Timestamp, out: &mut Vec<Decision>) {
        let Some(a) = self.agents.get(&agent) else { return };
        if a.status != AgentStatus::Online {
            return;
        }
        let mut teams: Vec<(QueueKey, TeamId)> = a
            .teams
            .iter()
            .filter_map(|t| self.teams.get(t).and_then(|team| team.queue.keys().next()).map(|k| (*k, *t)))
            .collect();
        teams.sort();
        for (_, team) in teams {
            self.dispatch_team(team, now, out);
        }
    }

    /// Places the team's waiting work in queue order until no member has
    /// room for the kinds that wait.
    fn dispatch_team(&mut self, id: TeamId, now: Timestamp, out: &mut Vec<Decision>) {
        use std::ops::Bound::{Excluded, Unbounded};
        // The members with room, per kind: worked out when first needed and
        // again only after a placement (nothing else here changes loads).
        // Most members are at capacity, so each waiting item is tried
        // against these few rather than the whole team. Placing only
        // removes from the queue, so walking it by key visits what a
        // snapshot would, minus what is gone.
        let mut free = std::mem::take(&mut self.free_buf);
        let mut known = [false; 3];
        let mut cursor: Option<QueueKey> = None;
        'walk: while let Some(team) = self.teams.get(&id) {
            let mut free_for = |kind: WorkKind, free: &mut [Free; 3]| {
                let k = kind.index();
                if !known[k] {
                    self.free_members(team, kind, &mut free[k]);
                    known[k] = true;
                }
                !free[k].members.is_empty()
            };
            let rest = match cursor {
                None => team.queue.range(..),
                Some(k) => team.queue.range((Excluded(k), Unbounded)),
            };
            // The next item `place` would act on: some member with room is
            // able to take it (perhaps after passing on it, which `place`
            // turns into a rest). Skipping the others saves a `place` call
            // that would find no candidate and change nothing.
            let mut found = None;
            for (&key, &q) in rest {
                cursor = Some(key);
                if !free_for(q.kind, &mut free) {
                    // Stop once no kind that still waits here has room.
                    let waiting = team.waiting;
                    if WorkKind::ALL.iter().all(|k| waiting[k.index()] == 0 || !free_for(*k, &mut free)) {
                        break 'walk;
                    }
                    continue;
                }
                let f = &free[q.kind.index()];
                // Most skipped work needs a skill no free member has at
                // all: the masks tell without looking the work up.
                if !f.masks.iter().any(|m| q.needs & !m == 0) {
                    continue;
                }
                let Some(p) = self.pending.get(&q.work) else { continue };
                if !matches!(p.stage, Stage::Waiting) || p.resting {
                    continue;
                }
                if f.members.iter().any(|&i| team.members.get(i).is_some_and(|m| self.able(team, m, p, false))) {
                    found = Some(q);
                    break;
                }
            }
            let Some(q) = found else { break };
            if self.place_among(q.work, Some(&free[q.kind.index()].members), now, out) {
                known = [false; 3];
            }
        }
        self.free_buf = free;
    }

    /// Indices of the members with room for `kind`, within the agent's
    /// capacity and the team's, in member order.
    fn free_members(&self, team: &Team, kind: WorkKind, into: &mut Free) {
        into.members.clear();
        into.masks.clear();
        for (i, m) in team.members.iter().enumerate() {
            let Some(a) = self.agents.get(&m.agent) else { continue };
            if a.has_room(kind) && team.member_load.get(&m.agent).copied().unwrap_or(0) < m.team_capacity {
                into.members.push(i);
                into.masks.push(a.skill_mask);
            }
        }
    }
}

#[cfg(test)]
mod tests;
