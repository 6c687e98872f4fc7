-- Voice (SPEC §3.6): SIP extensions, numbers (DIDs), trunks, IVR menus,
-- call records and callback requests. Every table is workspace-scoped; the
-- two global lookups the SIP server makes (a DID, a SIP domain) are unique
-- across workspaces by index.

-- Per-workspace voice settings (core::voice::VoiceSettings as JSON). The
-- SIP domain is also a column so it is unique across workspaces; no row
-- means the defaults and the domain ws<id>.switchboard.local.
CREATE TABLE voice_settings (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    sip_domain TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Phones/softphones. We never store the password: `ha1` is hex
-- MD5(extension:realm:password) and `realm` the SIP domain it was computed
-- under (the digest challenge must use that realm until the password is set
-- again).
CREATE TABLE sip_extensions (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    extension TEXT NOT NULL,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    display_name TEXT NOT NULL,
    ha1 TEXT NOT NULL,
    realm TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, extension)
);
-- One extension per agent at most.
CREATE UNIQUE INDEX sip_extensions_user ON sip_extensions(workspace_id, user_id) WHERE user_id IS NOT NULL;

-- IVR menus: `config` is core::voice::IvrMenuSpec as JSON (prompt, options,
-- timeouts); references inside it are checked on write.
CREATE TABLE ivr_menus (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX ivr_menus_workspace ON ivr_menus(workspace_id, id);

-- DIDs. `number` is E.164 and unique across all workspaces: an inbound
-- INVITE is matched by it before we know the workspace.
CREATE TABLE voice_numbers (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    number TEXT NOT NULL UNIQUE,
    inbox_id INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    ivr_menu_id INTEGER REFERENCES ivr_menus(id) ON DELETE SET NULL,
    default_team_id INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX voice_numbers_workspace ON voice_numbers(workspace_id, inbox_id);

-- SIP trunks. The password is stored (we must answer the provider's digest
-- challenges) and never shown by the API. `inbound_ips` is a JSON list.
CREATE TABLE sip_trunks (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    transport TEXT NOT NULL,
    username TEXT,
    password TEXT,
    register INTEGER NOT NULL,
    inbound_ips TEXT NOT NULL,
    inbound_auth INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);

-- Call records (CDRs). Each call belongs to a conversation of the voice
-- inbox, so it shows in the contact's history beside chats.
CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    inbox_id INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    voice_number_id INTEGER REFERENCES voice_numbers(id) ON DELETE SET NULL,
    team_id INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    agent_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    sip_call_id TEXT,
    offered_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER,
    disposition TEXT,
    wait_ms INTEGER,
    talk_ms INTEGER,
    recording_attachment_id INTEGER REFERENCES attachments(id) ON DELETE SET NULL,
    voicemail_attachment_id INTEGER REFERENCES attachments(id) ON DELETE SET NULL,
    callback_status TEXT
);
-- The call log (newest first) and its per-contact view.
CREATE INDEX calls_log ON calls(workspace_id, offered_at, id);
CREATE INDEX calls_contact ON calls(workspace_id, contact_id, offered_at);
-- The missed-calls list: only unanswered inbound calls carry a status.
CREATE INDEX calls_missed ON calls(workspace_id, callback_status, offered_at) WHERE callback_status IS NOT NULL;
-- The SIP engine finds a live call by its SIP Call-ID.
CREATE INDEX calls_sip_call_id ON calls(workspace_id, sip_call_id) WHERE sip_call_id IS NOT NULL;

CREATE TABLE callback_requests (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    name TEXT,
    source TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    call_id INTEGER REFERENCES calls(id) ON DELETE SET NULL
);
CREATE INDEX callback_requests_status ON callback_requests(workspace_id, status, requested_at);
