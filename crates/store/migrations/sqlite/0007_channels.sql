-- Provider channels (issue 5): who a contact is at each inbox, the provider's
-- id of each message, and the durable outbox of sends.
CREATE TABLE contact_identities (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    inbox_id INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    -- wa_id, Telegram chat id, PSID…
    external_id TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, inbox_id, external_id)
);
CREATE INDEX contact_identities_contact ON contact_identities(workspace_id, contact_id);
CREATE INDEX contacts_phone ON contacts(workspace_id, phone);

ALTER TABLE messages ADD COLUMN provider_message_id TEXT;
CREATE INDEX messages_provider_id ON messages(workspace_id, provider_message_id) WHERE provider_message_id IS NOT NULL;

-- One row per outbound message to a provider, written in the message's own
-- transaction. The worker sends the oldest pending row of each conversation
-- (order per conversation), retries with backoff, and records the outcome.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    inbox_id INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    -- pending | sent | failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at, id);
CREATE INDEX outbox_conversation ON outbox(conversation_id, status, id);
