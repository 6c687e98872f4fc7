-- Automation rules (SPEC §3.4). `definition` is the rule document as JSON
-- (conditions and actions, validated by core::automation); `trigger_kind` and
-- `enabled` are columns too so the runner loads only the rules it needs.
CREATE TABLE automation_rules (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    position INTEGER NOT NULL,
    trigger_kind TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX automation_rules_trigger ON automation_rules(workspace_id, trigger_kind, position, id);

-- One row per rule that matched an event. Kept when the rule is deleted
-- (no foreign key on rule_id; the name is copied) so the log stays whole.
CREATE TABLE automation_runs (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    rule_id INTEGER NOT NULL,
    rule_name TEXT NOT NULL,
    conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
    trigger_kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX automation_runs_rule ON automation_runs(workspace_id, rule_id, id);
CREATE INDEX automation_runs_workspace ON automation_runs(workspace_id, id);
