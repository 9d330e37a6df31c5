-- A send that kept failing stayed 'queued' with error null, its attempts and reason visible to nobody.
-- The outbox row now keeps the Cloud API's error code beside its text (last_error_code: a Graph code
-- such as 131047, or http_503, timeout, network_error), and list_messages shows attempts, last_error and
-- next_attempt_at; a never-retry error ends the row at once and the message is 'failed'
-- (db/functions/leads/outbox.sql). A message may now be a template (name, language code, text
-- parameters), the only kind WhatsApp delivers outside the 24-hour customer-service window: the send
-- function takes it and refuses free-form text outside the window (outside_service_window). Both
-- signatures change, so the old ones go.
alter table leads.outbox add column last_error_code text check (length(last_error_code) <= 64);

alter table leads.messages
  add column template_name text constraint messages_template_name_valid check (template_name ~ '^[a-z0-9_]+$' and length(template_name) <= 512),
  add column template_language text constraint messages_template_language_valid check (template_language ~ '^[a-z]{2,3}(_[A-Z]{2})?$'),
  add column template_parameters jsonb constraint messages_template_parameters_array check (jsonb_typeof(template_parameters) = 'array'),
  add constraint messages_template_complete check (
    (template_name is null) = (template_language is null) and (template_name is null) = (template_parameters is null)),
  add constraint messages_template_outbound check (template_name is null or direction = 'out');

drop function if exists public.send_whatsapp_message(uuid, text, text, boolean, text, text);
drop function if exists leads.fail_outbox(uuid, uuid, uuid, text, interval);
