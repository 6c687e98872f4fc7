-- Email threading: every Message-ID an email inbox received or sent, with
-- the conversation and message it belongs to (In-Reply-To/References of a
-- later mail name them).
CREATE TABLE email_messages (
    workspace_id BIGINT NOT NULL,
    inbox_id BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    conversation_id BIGINT NOT NULL,
    message_row_id BIGINT NOT NULL,
    direction TEXT NOT NULL,
    subject TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, inbox_id, message_id)
);
CREATE INDEX email_messages_conversation ON email_messages (workspace_id, conversation_id, created_at);
