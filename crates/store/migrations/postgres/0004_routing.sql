-- Routing (SPEC §3.3). JSON documents are validated by core::routing.
-- A team's routing settings; NULL = defaults (no automatic assignment).
ALTER TABLE teams ADD COLUMN routing TEXT;
-- Ordered strategy position and weighted-random share of a member.
ALTER TABLE team_members ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE team_members ADD COLUMN weight BIGINT NOT NULL DEFAULT 1;
-- An agent's capacity per kind of work and skills; NULL = defaults.
ALTER TABLE memberships ADD COLUMN routing_profile TEXT;
-- Skills the routing rule asked for, so a restart routes the same way.
ALTER TABLE conversations ADD COLUMN routing_skills TEXT;
-- The workspace's team-selection rules and inbox default teams.
CREATE TABLE routing_rules (
    workspace_id BIGINT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    config TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Open work is what the router rebuilds its queues from on start.
CREATE INDEX conversations_open ON conversations(workspace_id, status, id);
