-- Notifications on Citus.
--
-- list_notifications paged by seq, an identity: on Citus each node takes it from its own range, so "newest
-- first" by seq mixed workspaces out of time order and a page's cursor could skip rows written on another
-- node. It now pages like every list, newest first by (created_at, id) with an opaque p_before cursor
-- (db/functions/gifts/notifications.sql); this index serves it, and the bigint signature goes.
create index notifications_recipient_created_idx on gifts.notifications (recipient_id, created_at desc, id desc);

drop function if exists public.list_notifications(boolean, integer, bigint);

-- There no NOTIFY announces a notification: the server's listener calls the server-only
-- gifts.notification_totals as the serving role, which needs the schema for that.
grant usage on schema gifts to lockstep_api;
