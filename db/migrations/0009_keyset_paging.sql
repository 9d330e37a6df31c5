-- Every list pages the same way (db/functions/platform/paging.sql): newest first by a (timestamp, id)
-- key, p_limit rows (1..200) at a time, p_before the opaque cursor of the last row seen. list_messages
-- read oldest first without a cursor, so past its limit the newest messages were never shown.
--
-- The new signatures add p_limit and p_before (or p_items_limit and p_items_before for get_wishlist's
-- items); create or replace would leave each old one beside its new overload, so they go here and the
-- definition files create the new ones.
drop function if exists public.list_members(uuid);
drop function if exists public.get_audit_log(uuid, text, text);
drop function if exists public.list_leads(uuid, text, integer);
drop function if exists public.list_conversations(uuid, text, integer);
drop function if exists public.list_messages(uuid, uuid, integer);
drop function if exists public.list_client_purchases(uuid);
drop function if exists public.list_client_bookings(uuid);
drop function if exists public.list_wishlists(uuid);
drop function if exists public.get_wishlist(uuid);

-- One index per keyset order, ending in the key (timestamp, id), so a page is an index scan that stops
-- after p_limit + 1 rows, read backwards. Where an index already led with the same columns it is
-- replaced by the longer one, which serves everything it did.
create index members_created_idx on platform.members (workspace_id, created_at, user_id);

drop index platform.audit_log_entity;
create index audit_log_entity on platform.audit_log (workspace_id, entity_table, entity_id, at, id);
create index audit_log_workspace_at on platform.audit_log (workspace_id, at, id);

drop index leads.leads_created_idx;
create index leads_created_idx on leads.leads (workspace_id, created_at, id);

create index conversations_activity_idx on leads.conversations (workspace_id, (coalesce(last_message_at, created_at)), id);

drop index leads.messages_conversation_idx;
create index messages_conversation_idx on leads.messages (workspace_id, conversation_id, created_at, id);

create index purchases_client_idx on sessions.purchases (workspace_id, client_id, purchased_at, id);

drop index sessions.bookings_client_idx;
create index bookings_client_idx on sessions.bookings (workspace_id, client_id, starts_at, id);

create index wishlists_created_idx on gifts.wishlists (workspace_id, created_at, id);

drop index gifts.wishlist_items_wishlist_idx;
create index wishlist_items_wishlist_idx on gifts.wishlist_items (workspace_id, wishlist_id, created_at, id);
