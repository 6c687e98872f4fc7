-- A trunk's outbound registration as the SIP server last saw it (JSON:
-- state, expires_at, last_error, updated_at); NULL until it first tries.
ALTER TABLE sip_trunks ADD COLUMN registration TEXT;
