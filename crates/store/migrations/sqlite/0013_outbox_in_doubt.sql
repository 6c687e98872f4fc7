-- Sends whose outcome is unknown. attempt_started_at is set when a worker
-- claims the row and cleared when it stores the outcome: still set when
-- the lease runs out, it means the process died mid-send and the provider
-- may have the message. in_doubt_at is when the row was first found in
-- doubt (such a crash, or a send that timed out): WhatsApp waits a grace
-- period from it for a status webhook naming the send before sending
-- again, and a message sent again after a doubt is marked as possibly
-- sent twice.
ALTER TABLE outbox ADD COLUMN attempt_started_at INTEGER;
ALTER TABLE outbox ADD COLUMN in_doubt_at INTEGER;
