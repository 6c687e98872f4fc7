-- A WhatsApp message template to send instead of the message's text
-- (JSON: {"name","language","parameters"}); null for free text.
ALTER TABLE outbox ADD COLUMN template TEXT;
