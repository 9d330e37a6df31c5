-- public.connect_whatsapp stored any phone number id an owner or admin named, so a workspace could
-- register another business's number and receive its customers' messages. Connecting now goes through
-- the server, which first asks the Cloud API whether the access token may read that number, then calls
-- the server-only leads.store_whatsapp_connection (db/functions/leads/whatsapp.sql). The old function
-- leaves public, so /rest/v1/rpc cannot skip the check.
drop function if exists public.connect_whatsapp(uuid, text, text);
