use super::*;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn at(secs: i64) -> Timestamp {
    T0.plus_millis(secs * 1000)
}

fn conv(n: i64) -> WorkId {
    WorkId::Conversation(ConversationId(n))
}

fn member(agent: i64, priority: i32) -> TeamMemberRouting {
    TeamMemberRouting { agent: UserId(agent), priority, weight: 1, team_capacity: 100 }
}

fn work(n: i64, team: i64, secs: i64) -> NewWork {
    NewWork {
        id: conv(n),
        kind: WorkKind::Chat,
        team: TeamId(team),
        priority: 0,
        skills: Vec::new(),
        previous_agent: None,
        notify_position: false,
        waiting_since: at(secs),
    }
}

struct World {
    engine: Engine,
    out: Vec<Decision>,
}

impl World {
    /// Team 1 with the given members (agents 1..) all online, chat capacity `cap`.
    fn new(config: TeamRouting, agents: &[i64], cap: u32) -> World {
        let mut w = World { engine: Engine::new(7), out: Vec::new() };
        for &a in agents {
            let profile = AgentProfile { capacity: Capacity { chat: cap, email: 1, voice: 1 }, skills: Skills::new() };
            w.engine.set_agent(UserId(a), profile, T0, &mut w.out);
        }
        let members = agents.iter().map(|&a| member(a, a as i32)).collect();
        w.engine.set_team(TeamId(1), config, members, T0, &mut w.out);
        for &a in agents {
            w.ev(RoutingEvent::PresenceChanged { agent: UserId(a), status: AgentStatus::Online, now: T0 });
        }
        w.out.clear();
        w
    }
    fn ev(&mut self, e: RoutingEvent) -> Vec<Decision> {
        self.out.clear();
        self.engine.handle(e, &mut self.out);
        self.engine.check_invariants().expect("invariants");
        std::mem::take(&mut self.out)
    }
    fn arrive(&mut self, w: NewWork) -> Vec<Decision> {
        let now = w.waiting_since;
        self.ev(RoutingEvent::Arrived { work: w, now })
    }
}

fn assigned_to(ds: &[Decision]) -> Vec<(i64, i64)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Assigned { work: WorkId::Conversation(c), agent, .. } => Some((c.0, agent.0)),
            _ => None,
        })
        .collect()
}

fn config(strategy: Strategy) -> TeamRouting {
    TeamRouting { auto_assign: true, strategy, sticky: false, ..TeamRouting::default() }
}

#[test]
fn round_robin_two_agents_five_conversations() {
    let mut w = World::new(config(Strategy::RoundRobin), &[1, 2], 2);
    let mut got = Vec::new();
    for n in 1..=5 {
        let ds = w.arrive(work(n, 1, n));
        got.extend(assigned_to(&ds));
        if n == 5 {
            assert_eq!(ds, vec![Decision::Queued { work: conv(5), team: TeamId(1), position: 1 }]);
        }
    }
    assert_eq!(got, vec![(1, 1), (2, 2), (3, 1), (4, 2)]);
    // Agent 2 resolves one: the waiting conversation goes to them.
    let ds = w.ev(RoutingEvent::Withdrawn { work: conv(2), now: at(10) });
    assert_eq!(assigned_to(&ds), vec![(5, 2)]);
}

#[test]
fn least_busy_longest_idle_fewest_today_and_ordered_on_one_scenario() {
    // Agent 1 holds two chats, agent 2 one, agent 3 none; agent 3 finished
    // work last, agent 1 first.
    let setup = |strategy| {
        let mut w = World::new(config(strategy), &[1, 2, 3], 5);
        for (n, agent, secs) in [(101, 1, 1), (102, 1, 2), (103, 2, 3), (104, 3, 4), (105, 3, 5)] {
            w.ev(RoutingEvent::TakenBy { work: conv(n), kind: WorkKind::Chat, team: Some(TeamId(1)), agent: UserId(agent), now: at(secs) });
        }
        w.ev(RoutingEvent::Withdrawn { work: conv(104), now: at(6) });
        w.ev(RoutingEvent::Withdrawn { work: conv(105), now: at(7) });
        w
    };
    let first = |strategy| assigned_to(&setup(strategy).arrive(work(1, 1, 20)))[0].1;
    assert_eq!(first(Strategy::LeastBusy), 3);
    assert_eq!(first(Strategy::LongestIdle), 1); // last active at 2 s
    assert_eq!(first(Strategy::Ordered), 1); // priority = agent id
    // Fewest handled today counts routed assignments, not manual claims:
    // route three, then the fourth goes to whoever got the fewest.
    let mut w = setup(Strategy::FewestHandledToday);
    let got: Vec<_> = (1..=4).flat_map(|n| assigned_to(&w.arrive(work(n, 1, 20 + n)))).collect();
    assert_eq!(got.iter().map(|x| x.1).collect::<Vec<_>>(), vec![1, 2, 3, 1]);
}

#[test]
fn priority_first_then_fifo() {
    let mut w = World::new(config(Strategy::RoundRobin), &[1], 1);
    w.arrive(work(1, 1, 0)); // agent busy now
    w.arrive(work(2, 1, 1));
    w.arrive(work(3, 1, 2));
    let ds = w.arrive(NewWork { priority: 3, ..work(4, 1, 3) });
    assert_eq!(ds, vec![Decision::Queued { work: conv(4), team: TeamId(1), position: 1 }]);
    assert_eq!(w.engine.queue(TeamId(1)), vec![conv(4), conv(2), conv(3)]);
    let mut served = Vec::new();
    for done in [1, 4, 2] {
        served.extend(assigned_to(&w.ev(RoutingEvent::Withdrawn { work: conv(done), now: at(10 + done) })));
    }
    assert_eq!(served, vec![(4, 1), (2, 1), (3, 1)]);
}

#[test]
fn offer_timeout_moves_on_and_offline_agent_offers_move_on() {
    let cfg = TeamRouting { offer_timeout_secs: Some(20), ..config(Strategy::Ordered) };
    let mut w = World::new(cfg, &[1, 2, 3], 1);
    let ds = w.arrive(work(1, 1, 0));
    assert_eq!(ds, vec![Decision::Offered { work: conv(1), team: TeamId(1), agent: UserId(1), expires_at: at(20) }]);
    assert_eq!(w.engine.next_wake(), Some(at(20)));
    // Nothing happens before the timeout.
    assert!(w.ev(RoutingEvent::Tick { now: at(19) }).is_empty());
    let ds = w.ev(RoutingEvent::Tick { now: at(20) });
    assert_eq!(
        ds,
        vec![
            Decision::OfferRetracted { work: conv(1), agent: UserId(1), reason: RetractReason::TimedOut },
            Decision::Offered { work: conv(1), team: TeamId(1), agent: UserId(2), expires_at: at(40) },
        ]
    );
    // Agent 2 goes offline: the offer moves on to agent 3, not back to 1.
    let ds = w.ev(RoutingEvent::PresenceChanged { agent: UserId(2), status: AgentStatus::Offline, now: at(25) });
    assert_eq!(
        ds,
        vec![
            Decision::OfferRetracted { work: conv(1), agent: UserId(2), reason: RetractReason::AgentUnavailable },
            Decision::Offered { work: conv(1), team: TeamId(1), agent: UserId(3), expires_at: at(45) },
        ]
    );
    // A late accept from agent 1 is ignored; agent 3 accepts.
    assert!(w.ev(RoutingEvent::OfferAccepted { work: conv(1), agent: UserId(1), now: at(26) }).is_empty());
    let ds = w.ev(RoutingEvent::OfferAccepted { work: conv(1), agent: UserId(3), now: at(27) });
    assert_eq!(assigned_to(&ds), vec![(1, 3)]);
    assert_eq!(w.engine.holder(conv(1)), Some(UserId(3)));
    assert_eq!(w.engine.next_wake(), None);
}

#[test]
fn everyone_declining_starts_a_new_round_on_the_next_tick() {
    let cfg = TeamRouting { offer_timeout_secs: Some(30), ..config(Strategy::RoundRobin) };
    let mut w = World::new(cfg, &[1, 2], 1);
    w.arrive(work(1, 1, 0));
    let ds = w.ev(RoutingEvent::OfferDeclined { work: conv(1), agent: UserId(1), now: at(1) });
    assert!(matches!(ds.last(), Some(Decision::Offered { agent: UserId(2), .. })));
    let ds = w.ev(RoutingEvent::OfferDeclined { work: conv(1), agent: UserId(2), now: at(2) });
    assert_eq!(ds, vec![Decision::OfferRetracted { work: conv(1), agent: UserId(2), reason: RetractReason::Declined }]);
    assert!(w.engine.has_retries());
    let ds = w.ev(RoutingEvent::Tick { now: at(3) });
    assert!(matches!(ds.as_slice(), [Decision::Offered { .. }]), "{ds:?}");
}

#[test]
fn ring_all_first_accept_wins() {
    let cfg = TeamRouting { offer_timeout_secs: Some(15), ..config(Strategy::RingAll) };
    let mut w = World::new(cfg, &[1, 2, 3], 1);
    let ds = w.arrive(work(1, 1, 0));
    assert_eq!(ds.iter().filter(|d| matches!(d, Decision::Offered { .. })).count(), 3);
    let ds = w.ev(RoutingEvent::OfferAccepted { work: conv(1), agent: UserId(2), now: at(3) });
    assert_eq!(
        ds,
        vec![
            Decision::OfferRetracted { work: conv(1), agent: UserId(1), reason: RetractReason::TakenElsewhere },
            Decision::OfferRetracted { work: conv(1), agent: UserId(3), reason: RetractReason::TakenElsewhere },
            Decision::Assigned { work: conv(1), team: TeamId(1), agent: UserId(2) },
        ]
    );
    // Nothing left to expire.
    assert!(w.ev(RoutingEvent::Tick { now: at(60) }).is_empty());
}

#[test]
fn skills_and_capacity_per_kind() {
    let mut w = World::new(config(Strategy::RoundRobin), &[1, 2], 1);
    let mut skills = Skills::new();
    skills.insert("ukrainian".into(), 5);
    let mut out = Vec::new();
    w.engine.set_agent(UserId(2), AgentProfile { capacity: Capacity { chat: 1, email: 2, voice: 1 }, skills }, T0, &mut out);
    let needs = vec![SkillRequirement { skill: "ukrainian".into(), min_level: 3 }];
    let ds = w.arrive(NewWork { skills: needs.clone(), ..work(1, 1, 0) });
    assert_eq!(assigned_to(&ds), vec![(1, 2)]);
    // Agent 2's chat slot is full; a second Ukrainian chat waits even though
    // agent 1 is free (no skill)...
    let ds = w.arrive(NewWork { skills: needs, ..work(2, 1, 1) });
    assert!(matches!(ds.as_slice(), [Decision::Queued { position: 1, .. }]));
    // ...while a plain chat behind it goes to agent 1, and emails have
    // their own capacity.
    assert_eq!(assigned_to(&w.arrive(work(3, 1, 2))), vec![(3, 1)]);
    let email = NewWork { kind: WorkKind::Email, ..work(4, 1, 3) };
    assert_eq!(assigned_to(&w.arrive(email)).len(), 1);
    assert_eq!(w.engine.load(UserId(2), WorkKind::Chat) + w.engine.load(UserId(1), WorkKind::Chat), 2);
}

#[test]
fn sticky_returns_to_the_previous_agent_if_free() {
    let cfg = TeamRouting { sticky: true, ..config(Strategy::Ordered) };
    let mut w = World::new(cfg, &[1, 2], 2);
    let ds = w.arrive(NewWork { previous_agent: Some(UserId(2)), ..work(1, 1, 0) });
    assert_eq!(assigned_to(&ds), vec![(1, 2)]);
    // Previous agent offline: the strategy decides.
    w.ev(RoutingEvent::PresenceChanged { agent: UserId(2), status: AgentStatus::Away, now: at(1) });
    let ds = w.arrive(NewWork { previous_agent: Some(UserId(2)), ..work(2, 1, 2) });
    assert_eq!(assigned_to(&ds), vec![(2, 1)]);
}

#[test]
fn overflow_moves_waiting_work_to_the_other_team_keeping_its_place() {
    let cfg = TeamRouting { overflow: Some(Overflow { after_secs: 60, to_team_id: TeamId(2) }), ..config(Strategy::RoundRobin) };
    let mut w = World::new(cfg, &[1], 1);
    let mut out = Vec::new();
    w.engine.set_team(TeamId(2), config(Strategy::RoundRobin), vec![member(5, 0)], T0, &mut out);
    w.arrive(work(1, 1, 0)); // agent 1 busy
    w.arrive(work(2, 1, 1)); // waits in team 1
    assert_eq!(w.engine.next_wake(), Some(at(61)));
    assert!(w.ev(RoutingEvent::Tick { now: at(60) }).is_empty());
    let ds = w.ev(RoutingEvent::Tick { now: at(61) });
    assert_eq!(
        ds,
        vec![
            Decision::Overflowed { work: conv(2), from: TeamId(1), to: TeamId(2) },
            Decision::Queued { work: conv(2), team: TeamId(2), position: 1 },
        ]
    );
    // Agent 5 (team 2) comes online and gets it.
    let ds = w.ev(RoutingEvent::PresenceChanged { agent: UserId(5), status: AgentStatus::Online, now: at(62) });
    assert_eq!(assigned_to(&ds), vec![(2, 5)]);
}

#[test]
fn positions_are_pushed_to_those_behind() {
    let mut w = World::new(config(Strategy::RoundRobin), &[1], 1);
    w.arrive(work(1, 1, 0));
    for n in 2..=4 {
        w.arrive(NewWork { notify_position: n != 3, ..work(n, 1, n) });
    }
    assert_eq!(w.engine.position(conv(4)), Some(3));
    let ds = w.ev(RoutingEvent::Withdrawn { work: conv(3), now: at(9) });
    assert_eq!(ds, vec![Decision::PositionChanged { work: conv(4), team: TeamId(1), position: 2 }]);
}

#[test]
fn manual_claim_takes_work_out_of_the_queue_and_counts_as_load() {
    let mut w = World::new(config(Strategy::RoundRobin), &[1, 2], 1);
    w.ev(RoutingEvent::PresenceChanged { agent: UserId(2), status: AgentStatus::Offline, now: at(0) });
    w.arrive(work(1, 1, 0));
    w.arrive(work(2, 1, 1));
    assert_eq!(w.engine.queue(TeamId(1)), vec![conv(2)]);
    // Offline agent 2 claims it by hand.
    let ds = w.ev(RoutingEvent::TakenBy { work: conv(2), kind: WorkKind::Chat, team: None, agent: UserId(2), now: at(2) });
    assert!(ds.is_empty());
    assert!(w.engine.queue(TeamId(1)).is_empty());
    assert_eq!(w.engine.load(UserId(2), WorkKind::Chat), 1);
    // Transfer from agent 1 to agent 2: agent 1 is free again.
    w.ev(RoutingEvent::TakenBy { work: conv(1), kind: WorkKind::Chat, team: Some(TeamId(1)), agent: UserId(2), now: at(3) });
    assert_eq!(w.engine.load(UserId(1), WorkKind::Chat), 0);
    assert_eq!(w.engine.holder(conv(1)), Some(UserId(2)));
}

#[test]
fn random_strategies_replay_identically_from_the_seed() {
    let run = |seed| {
        let mut e = Engine::new(seed);
        let mut out = Vec::new();
        let members = (1..=5).map(|a| TeamMemberRouting { weight: a as u32, ..member(a, 0) }).collect();
        e.set_team(TeamId(1), config(Strategy::WeightedRandom), members, T0, &mut out);
        for a in 1..=5 {
            e.handle(RoutingEvent::PresenceChanged { agent: UserId(a), status: AgentStatus::Online, now: T0 }, &mut out);
        }
        out.clear();
        for n in 1..=20 {
            e.handle(RoutingEvent::Arrived { work: work(n, 1, n), now: at(n) }, &mut out);
        }
        assigned_to(&out)
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn team_without_auto_assign_leaves_work_for_claiming() {
    let mut w = World::new(TeamRouting { auto_assign: false, ..config(Strategy::RoundRobin) }, &[1], 5);
    assert!(w.arrive(work(1, 1, 0)).is_empty());
    assert!(w.engine.queue(TeamId(1)).is_empty());
}

#[test]
fn work_being_offered_still_overflows_once_the_offer_fails() {
    let cfg = TeamRouting {
        offer_timeout_secs: Some(30),
        overflow: Some(Overflow { after_secs: 10, to_team_id: TeamId(2) }),
        ..config(Strategy::RoundRobin)
    };
    let mut w = World::new(cfg, &[1], 1);
    let mut out = Vec::new();
    w.engine.set_team(TeamId(2), config(Strategy::RoundRobin), vec![member(5, 0)], T0, &mut out);
    w.arrive(work(1, 1, 0)); // offered to agent 1
    assert!(w.ev(RoutingEvent::Tick { now: at(10) }).is_empty(), "no overflow while it rings");
    w.ev(RoutingEvent::OfferDeclined { work: conv(1), agent: UserId(1), now: at(10) });
    let ds = w.ev(RoutingEvent::Tick { now: at(11) });
    assert!(ds.contains(&Decision::Overflowed { work: conv(1), from: TeamId(1), to: TeamId(2) }), "{ds:?}");
}

#[test]
fn a_higher_priority_arrival_moves_those_behind_back() {
    let mut w = World::new(config(Strategy::RoundRobin), &[1], 1);
    w.arrive(work(1, 1, 0)); // agent busy
    w.arrive(NewWork { notify_position: true, ..work(2, 1, 1) });
    w.arrive(NewWork { notify_position: true, ..work(3, 1, 2) });
    let ds = w.arrive(NewWork { priority: 4, ..work(4, 1, 3) });
    assert_eq!(
        ds,
        vec![
            Decision::Queued { work: conv(4), team: TeamId(1), position: 1 },
            Decision::PositionChanged { work: conv(2), team: TeamId(1), position: 2 },
            Decision::PositionChanged { work: conv(3), team: TeamId(1), position: 3 },
        ]
    );
}

#[test]
fn leaving_a_team_with_an_offer_out_frees_the_agent_for_their_other_teams() {
    let cfg = TeamRouting { offer_timeout_secs: Some(30), ..config(Strategy::RoundRobin) };
    let mut w = World::new(cfg, &[1], 1);
    let mut out = Vec::new();
    w.engine.set_team(TeamId(2), config(Strategy::RoundRobin), vec![member(1, 0)], T0, &mut out);
    w.arrive(work(1, 1, 0)); // offered to agent 1, whose one chat slot it reserves
    assert!(matches!(w.arrive(work(2, 2, 1)).as_slice(), [Decision::Queued { .. }]));
    out.clear();
    w.engine.set_team(TeamId(1), cfg, Vec::new(), at(2), &mut out);
    assert_eq!(
        out,
        vec![
            Decision::OfferRetracted { work: conv(1), agent: UserId(1), reason: RetractReason::AgentUnavailable },
            Decision::Assigned { work: conv(2), team: TeamId(2), agent: UserId(1) },
        ]
    );
    w.engine.check_invariants().expect("invariants");
}
