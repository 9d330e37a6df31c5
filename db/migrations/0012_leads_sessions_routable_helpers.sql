-- The helpers that shape a message's delivery, a booking and a pack as JSON took a table's row type,
-- which Citus does not propagate to its workers. They now take the row as jsonb (to_jsonb of it), with
-- the same answer; create or replace cannot change an argument's type, so the old ones are dropped
-- here and db/functions/leads/messages.sql, sessions/bookings.sql and sessions/packs.sql define the new.
drop function if exists leads.delivery_json(leads.messages, leads.outbox);
drop function if exists sessions.booking_json(sessions.bookings);
drop function if exists sessions.purchase_json(sessions.purchases);
