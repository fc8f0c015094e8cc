-- Replay safety (conveyor replay, a dlq retry of an applied event, a
-- re-send older than the inbox's dedupe window): handlers run again and
-- must change nothing that is already there. The verification domain
-- keys a request by the id of the event that carried it: one row per
-- source_event_id, inserted with ON CONFLICT DO NOTHING.
--
-- Rows that already share a source_event_id are the same request applied
-- twice (the emitted id is derived from the source event's id, so it
-- names one request); the first one is kept.
DELETE FROM marketplace.verification_requests a
 USING marketplace.verification_requests b
 WHERE a.source_event_id = b.source_event_id AND a.id > b.id;
CREATE UNIQUE INDEX verification_requests_source_event
    ON marketplace.verification_requests (source_event_id);
