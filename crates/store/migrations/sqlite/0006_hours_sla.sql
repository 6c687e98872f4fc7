-- Business hours per team, SLA timers, auto-resolve and automatic replies
-- (SPEC §3.4). Documents are JSON validated by core (business_hours, sla).

-- A team's own hours, overriding the workspace's; no row = the workspace's.
CREATE TABLE team_business_hours (
    team_id INTEGER PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    config TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX team_business_hours_workspace ON team_business_hours(workspace_id, team_id);

-- SLA policy and auto-resolve threshold (core::sla::AutomationSettings).
CREATE TABLE automation_settings (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    config TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Automatic replies sent into a conversation (away, greeting). The primary
-- key makes "at most once per conversation" hold across nodes: the reply is
-- written in the same transaction as its row, only by the inserter.
CREATE TABLE auto_replies (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, kind)
);

-- Each SLA clock (kind + the instant it started) breaches at most once; the
-- node whose insert created the row announces it.
CREATE TABLE sla_breaches (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    breached_at INTEGER NOT NULL,
    UNIQUE (conversation_id, kind, started_at)
);
CREATE INDEX sla_breaches_workspace ON sla_breaches(workspace_id, breached_at);

-- The scanner's bounded queries: oldest clocks first, only live rows.
CREATE INDEX conversations_sla_unreplied ON conversations(workspace_id, created_at)
    WHERE first_reply_at IS NULL AND status <> 'resolved';
CREATE INDEX conversations_sla_waiting ON conversations(workspace_id, waiting_since)
    WHERE waiting_since IS NOT NULL AND status <> 'resolved';
CREATE INDEX conversations_unresolved ON conversations(workspace_id, created_at)
    WHERE status <> 'resolved';
CREATE INDEX conversations_idle ON conversations(workspace_id, last_activity_at)
    WHERE status IN ('open', 'pending');
