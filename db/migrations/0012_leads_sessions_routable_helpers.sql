-- The helpers that shape a booking and a pack as JSON took a table's row type, which Citus does not
-- propagate to its workers. They now take the row as jsonb (to_jsonb of it), with the same answer;
-- create or replace cannot change an argument's type, so the old ones are dropped here and
-- db/functions/sessions/bookings.sql and packs.sql define the new.
drop function if exists sessions.booking_json(sessions.bookings);
drop function if exists sessions.purchase_json(sessions.purchases);
