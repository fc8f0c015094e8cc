-- Outbox rows that carry their own Kafka headers: the dead-letter copies on
-- each domain's DLQ topic keep the original event's headers (and add where
-- and why it failed). NULL (every other row): the relay writes CloudEvents
-- headers from the row's columns.
ALTER TABLE conveyor.outbox ADD COLUMN headers jsonb;
