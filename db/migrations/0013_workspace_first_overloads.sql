-- Issue 17 item 4: every function named by an id alone gains a p_workspace_id-first form that Citus can
-- route. set_primary_contact(p_client_id, p_contact_id, p_workspace_id default null) becomes
-- (p_client_id, p_contact_id) and (p_workspace_id, p_client_id, p_contact_id): beside a trailing optional
-- workspace an overload would make PostgREST's resolution ambiguous (PGRST203), and the new three-uuid form
-- has the old one's argument types under other names, which create or replace cannot rename.
-- gifts.locate_item now takes the workspace too. db/functions/crm/contacts.sql and gifts/wishlists.sql
-- define the new ones.
drop function if exists public.set_primary_contact(uuid, uuid, uuid);
drop function if exists gifts.locate_item(uuid);
