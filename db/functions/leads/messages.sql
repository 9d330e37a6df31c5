/*
 * send_whatsapp_message(p_workspace_id, p_to, p_message, p_create_lead, p_customer_name, p_lead_type,
 * p_template) → {success, message_id, conversation_id, lead_id, status, attempts, last_error,
 * next_attempt_at}: queues an outbound message: the message row, its outbox row and, when p_create_lead,
 * a new lead and conversation, all in this one transaction. Without a new lead the message joins the
 * customer's open conversation (or a new one without a lead). A message is exactly one of p_message
 * (free-form text) or p_template ({name, language, parameters: [text, ...]}, a template approved in the
 * WhatsApp Business account). WhatsApp delivers free-form text only within 24 hours of the customer's
 * last message (its customer-service window): outside it the text is refused, nothing written, and a
 * template is the way to write first. A template may be sent at any time.
 * Refusals: workspace_not_found, whatsapp_not_connected, phone_required, invalid_phone,
 * message_or_template, message_required, message_too_long, invalid_template, invalid_template_name,
 * invalid_template_language, invalid_template_parameters, customer_name_required, invalid_lead_type,
 * outside_service_window.
 */
create or replace function public.send_whatsapp_message(
  p_workspace_id uuid,
  p_to text,
  p_message text default null,
  p_create_lead boolean default false,
  p_customer_name text default null,
  p_lead_type text default 'inquiry',
  p_template jsonb default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_e164 text;
  v_template_name text;
  v_template_language text;
  v_template_parameters jsonb;
  v_body text := p_message;
  v_contact jsonb;
  v_contact_id uuid;
  v_lead_id uuid;
  v_conversation_id uuid;
  v_message_id uuid;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if not exists (select 1 from leads.whatsapp_connections c where c.workspace_id = p_workspace_id) then
    return platform.refusal('whatsapp_not_connected', 'Connect a WhatsApp number to this workspace first');
  end if;
  if p_to is null or length(btrim(p_to)) = 0 then
    return platform.refusal('phone_required', 'A message needs the recipient''s phone number');
  end if;
  v_e164 := crm.normalize_phone(p_to);
  if v_e164 is null then
    return crm.invalid_phone(p_to);
  end if;
  if p_message is not null and p_template is not null then
    return platform.refusal('message_or_template', 'A message is either a text or a template, not both');
  end if;
  if p_template is null then
    if p_message is null or length(btrim(p_message)) = 0 then
      return platform.refusal('message_required', 'A message needs a text (or a template)');
    end if;
    if length(p_message) > 4096 then
      return platform.refusal('message_too_long', 'A WhatsApp text has at most 4096 characters');
    end if;
  else
    if jsonb_typeof(p_template) <> 'object' or p_template - array['name', 'language', 'parameters'] <> '{}'::jsonb then
      return platform.refusal('invalid_template', 'A template is {name, language, parameters}');
    end if;
    v_template_name := case when jsonb_typeof(p_template -> 'name') = 'string' then p_template ->> 'name' end;
    if v_template_name is null or v_template_name !~ '^[a-z0-9_]+$' or length(v_template_name) > 512 then
      return platform.refusal('invalid_template_name', 'A template name is the approved template''s name: lowercase letters, digits and underscores');
    end if;
    v_template_language := case when jsonb_typeof(p_template -> 'language') = 'string' then p_template ->> 'language' end;
    if v_template_language is null or v_template_language !~ '^[a-z]{2,3}(_[A-Z]{2})?$' then
      return platform.refusal('invalid_template_language', 'A template language is a WhatsApp language code such as en or en_US');
    end if;
    v_template_parameters := coalesce(p_template -> 'parameters', '[]'::jsonb);
    if jsonb_typeof(v_template_parameters) <> 'array' or jsonb_array_length(v_template_parameters) > 100
       or exists (select 1 from jsonb_array_elements(v_template_parameters) p
                  where jsonb_typeof(p) <> 'string' or length(btrim(p #>> '{}')) = 0 or length(p #>> '{}') > 1024) then
      return platform.refusal('invalid_template_parameters', 'Template parameters are at most 100 texts of 1 to 1024 characters each');
    end if;
    v_body := left(format('[template %s, %s]%s', v_template_name, v_template_language,
      (select coalesce(string_agg(' ' || (p #>> '{}'), ' |' order by n), '')
       from jsonb_array_elements(v_template_parameters) with ordinality e(p, n))), 4096);
  end if;
  if coalesce(p_create_lead, false) then
    if p_customer_name is null or length(btrim(p_customer_name)) = 0 then
      return platform.refusal('customer_name_required', 'Creating a lead needs the customer''s name');
    end if;
    if p_lead_type is null or p_lead_type not in ('order', 'inquiry', 'booking', 'support', 'other') then
      return platform.refusal('invalid_lead_type', format('Lead type %L is not one of order, inquiry, booking, support, other', p_lead_type));
    end if;
  end if;

  -- Under the customer's lock an inbound message that the webhook is storing is either seen or not yet
  -- begun; the refusal comes before anything is written.
  perform leads.lock_customer(p_workspace_id, v_e164);
  if p_template is null and not leads.in_service_window(p_workspace_id, crm.contact_by_phone(p_workspace_id, v_e164)) then
    return platform.refusal('outside_service_window',
      'This customer has not written in the last 24 hours, so WhatsApp delivers no free-form text to them: send a template message instead');
  end if;
  v_contact := crm.upsert_contact(p_workspace_id, v_e164, coalesce(nullif(btrim(p_customer_name), ''), v_e164));
  if not (v_contact ->> 'success')::boolean then
    raise exception 'crm.upsert_contact refused: %', v_contact ->> 'code' using errcode = '22023';
  end if;
  v_contact_id := (v_contact ->> 'contact_id')::uuid;

  if coalesce(p_create_lead, false) then
    insert into leads.leads (workspace_id, contact_id, type, created_by, assigned_to)
    values (p_workspace_id, v_contact_id, p_lead_type, v_user, v_user)
    returning id into v_lead_id;
  else
    select c.id, c.lead_id into v_conversation_id, v_lead_id
    from leads.conversations c
    where c.workspace_id = p_workspace_id and c.contact_id = v_contact_id and c.status <> 'closed'
    order by c.last_message_at desc nulls last, c.created_at desc
    limit 1;
  end if;
  if v_conversation_id is null then
    insert into leads.conversations (workspace_id, contact_id, lead_id)
    values (p_workspace_id, v_contact_id, v_lead_id)
    returning id into v_conversation_id;
  end if;

  insert into leads.messages (workspace_id, conversation_id, direction, body, status, sent_by,
    template_name, template_language, template_parameters)
  values (p_workspace_id, v_conversation_id, 'out', v_body, 'queued', v_user,
    v_template_name, v_template_language, v_template_parameters)
  returning id into v_message_id;
  update leads.conversations c set last_message_at = now(), updated_at = now()
  where c.workspace_id = p_workspace_id and c.id = v_conversation_id;
  insert into leads.outbox (workspace_id, message_id, recipient)
  values (p_workspace_id, v_message_id, v_e164);

  return jsonb_build_object('success', true, 'message_id', v_message_id, 'conversation_id', v_conversation_id,
    'lead_id', v_lead_id) || (
    select leads.delivery_json(to_jsonb(m), to_jsonb(o))
    from leads.messages m
    join leads.outbox o on o.workspace_id = m.workspace_id and o.message_id = m.id
    where m.workspace_id = p_workspace_id and m.id = v_message_id);
end;
$$;

grant execute on function public.send_whatsapp_message(uuid, text, text, boolean, text, text, jsonb) to lockstep_api;

/*
 * leads.in_service_window(workspace, contact) → boolean: whether the customer wrote within the last 24
 * hours, so WhatsApp delivers free-form text to them. The time is the customer's, as Meta stamped the
 * message (a webhook can arrive late, or be redelivered), never later than its arrival; false for no
 * contact or one who never wrote.
 */
create or replace function leads.in_service_window(p_workspace_id uuid, p_contact_id uuid)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return exists (
    select 1
    from leads.conversations c
    join leads.messages m on m.workspace_id = c.workspace_id and m.conversation_id = c.id
    where c.workspace_id = p_workspace_id and c.contact_id = p_contact_id and m.direction = 'in'
      -- least() ignores a null wa_timestamp; the created_at bound lets the index on created_at serve.
      and m.created_at > now() - interval '24 hours'
      and least(m.wa_timestamp, m.created_at) > now() - interval '24 hours');
end;
$$;

/*
 * leads.delivery_json(p_message, p_outbox) → {status, attempts, last_error: {code, message} | null,
 * next_attempt_at, template: {name, language, parameters} | null}: how far an outbound message got, for
 * the send answer and list_messages, from to_jsonb of the message row and of its outbox row (null when it
 * has none). attempts counts the sends begun; next_attempt_at, while the message waits to be sent, is when
 * the worker tries next (after a retryable error, when its backoff ends). It takes jsonb, not the rows:
 * a function of a table's row type is not propagated to Citus workers.
 */
create or replace function leads.delivery_json(p_message jsonb, p_outbox jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'status', p_message -> 'status',
    'attempts', coalesce(p_outbox -> 'attempts', '0'::jsonb),
    'last_error', case when p_outbox ->> 'last_error' is not null then jsonb_build_object(
      'code', p_outbox -> 'last_error_code', 'message', p_outbox -> 'last_error') end,
    'next_attempt_at', case when p_outbox ->> 'done_at' is null then p_outbox -> 'next_attempt_at' end,
    'template', case when p_message ->> 'template_name' is not null then jsonb_build_object(
      'name', p_message -> 'template_name', 'language', p_message -> 'template_language',
      'parameters', p_message -> 'template_parameters') end)
$$;

/*
 * list_conversations(p_workspace_id, p_status, p_limit, p_before) → {success, conversations: [...],
 * next_before}: most recent activity (the last message, else the creation) first, p_limit (1..200) at a
 * time (db/functions/platform/paging.sql); members only. A conversation that gets a message while a
 * caller pages moves to the front: pages already read do not show it again.
 * Refusals: workspace_not_found, invalid_limit, invalid_cursor.
 */
create or replace function public.list_conversations(
  p_workspace_id uuid, p_status text default null, p_limit integer default 50, p_before text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_before_at timestamptz;
  v_before_id uuid;
  v_refusal jsonb;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  select k.at, k.id into v_before_at, v_before_id from platform.page_key_uuid(p_before) k;
  v_refusal := platform.page_refusal(p_limit, p_before, v_before_at);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return (
    select jsonb_build_object('success', true,
             'conversations', coalesce(jsonb_agg(jsonb_build_object(
               'conversation_id', c.id, 'contact_id', c.contact_id, 'lead_id', c.lead_id, 'status', c.status,
               'created_at', c.created_at, 'last_message_at', c.last_message_at)
               order by c.n) filter (where c.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor(c.active_at, c.id::text)) filter (where c.n = p_limit) end)
    from (
      select c.*, coalesce(c.last_message_at, c.created_at) as active_at,
             row_number() over (order by coalesce(c.last_message_at, c.created_at) desc, c.id desc) as n
      from leads.conversations c
      where c.workspace_id = p_workspace_id and (p_status is null or c.status = p_status)
        and (coalesce(c.last_message_at, c.created_at), c.id) < (v_before_at, v_before_id)
      order by coalesce(c.last_message_at, c.created_at) desc, c.id desc
      limit p_limit + 1) c);
end;
$$;

grant execute on function public.list_conversations(uuid, text, integer, text) to lockstep_api;

/*
 * list_messages(p_workspace_id, p_conversation_id, p_limit, p_before) → {success, messages: [...],
 * next_before}: newest first, p_limit (1..200) at a time (db/functions/platform/paging.sql); a
 * conversation reads oldest to newest by reversing a page, and next_before fetches the older ones.
 * An outbound message shows its delivery (status, attempts, last_error, next_attempt_at, template:
 * leads.delivery_json). Members only. Refusals: workspace_not_found, conversation_not_found, invalid_limit, invalid_cursor.
 */
create or replace function public.list_messages(
  p_workspace_id uuid, p_conversation_id uuid, p_limit integer default 50, p_before text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_before_at timestamptz;
  v_before_id uuid;
  v_refusal jsonb;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if not exists (select 1 from leads.conversations c where c.workspace_id = p_workspace_id and c.id = p_conversation_id) then
    return platform.refusal('conversation_not_found', 'Conversation not found');
  end if;
  select k.at, k.id into v_before_at, v_before_id from platform.page_key_uuid(p_before) k;
  v_refusal := platform.page_refusal(p_limit, p_before, v_before_at);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return (
    select jsonb_build_object('success', true,
             'messages', coalesce(jsonb_agg(jsonb_build_object(
               'message_id', (p.m).id, 'direction', (p.m).direction, 'body', (p.m).body,
               'error', (p.m).error, 'wa_message_id', (p.m).wa_message_id, 'created_at', (p.m).created_at,
               'sent_at', (p.m).sent_at, 'delivered_at', (p.m).delivered_at, 'read_at', (p.m).read_at,
               'failed_at', (p.m).failed_at)
               || leads.delivery_json(to_jsonb(p.m), to_jsonb(o))
               order by p.n) filter (where p.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor((p.m).created_at, (p.m).id::text)) filter (where p.n = p_limit) end)
    from (
      select m, row_number() over (order by m.created_at desc, m.id desc) as n
      from leads.messages m
      where m.workspace_id = p_workspace_id and m.conversation_id = p_conversation_id
        and (m.created_at, m.id) < (v_before_at, v_before_id)
      order by m.created_at desc, m.id desc
      limit p_limit + 1) p
    left join leads.outbox o on o.workspace_id = (p.m).workspace_id and o.message_id = (p.m).id);
end;
$$;

grant execute on function public.list_messages(uuid, uuid, integer, text) to lockstep_api;

/*
 * leads.delivery_rank(status) → integer: how far a message got; status updates only move forward, so a
 * late 'delivered' never overwrites 'read'.
 */
create or replace function leads.delivery_rank(p_status text)
returns integer
language sql
immutable
set search_path = ''
as $$
  select case p_status when 'queued' then 0 when 'sent' then 1 when 'delivered' then 2 when 'read' then 3 when 'failed' then 4 else -1 end
$$;
