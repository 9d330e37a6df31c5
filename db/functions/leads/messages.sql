/*
 * send_whatsapp_message(p_workspace_id, p_to, p_message, p_create_lead, p_customer_name, p_lead_type)
 * → {success, message_id, conversation_id, lead_id}: queues an outbound message: the message row, its
 * outbox row and, when p_create_lead, a new lead and conversation, all in this one transaction. Without
 * a new lead the message joins the customer's open conversation (or a new one without a lead).
 * Refusals: workspace_not_found, whatsapp_not_connected, phone_required, invalid_phone,
 * message_required, message_too_long, customer_name_required, invalid_lead_type.
 */
create or replace function public.send_whatsapp_message(
  p_workspace_id uuid,
  p_to text,
  p_message text,
  p_create_lead boolean default false,
  p_customer_name text default null,
  p_lead_type text default 'inquiry')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_e164 text;
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
  if p_message is null or length(btrim(p_message)) = 0 then
    return platform.refusal('message_required', 'A message needs a text');
  end if;
  if length(p_message) > 4096 then
    return platform.refusal('message_too_long', 'A WhatsApp text has at most 4096 characters');
  end if;
  if coalesce(p_create_lead, false) then
    if p_customer_name is null or length(btrim(p_customer_name)) = 0 then
      return platform.refusal('customer_name_required', 'Creating a lead needs the customer''s name');
    end if;
    if p_lead_type is null or p_lead_type not in ('order', 'inquiry', 'booking', 'support', 'other') then
      return platform.refusal('invalid_lead_type', format('Lead type %L is not one of order, inquiry, booking, support, other', p_lead_type));
    end if;
  end if;

  perform leads.lock_customer(p_workspace_id, v_e164);
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

  insert into leads.messages (workspace_id, conversation_id, direction, body, status, sent_by)
  values (p_workspace_id, v_conversation_id, 'out', p_message, 'queued', v_user)
  returning id into v_message_id;
  update leads.conversations c set last_message_at = now(), updated_at = now()
  where c.workspace_id = p_workspace_id and c.id = v_conversation_id;
  insert into leads.outbox (workspace_id, message_id, recipient)
  values (p_workspace_id, v_message_id, v_e164);

  return jsonb_build_object('success', true, 'message_id', v_message_id, 'conversation_id', v_conversation_id,
    'lead_id', v_lead_id);
end;
$$;

grant execute on function public.send_whatsapp_message(uuid, text, text, boolean, text, text) to lockstep_api;

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
  v_before_at timestamptz;
  v_before_id uuid;
  v_refusal jsonb;
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
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
 * Members only. Refusals: workspace_not_found, conversation_not_found, invalid_limit, invalid_cursor.
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
  v_before_at timestamptz;
  v_before_id uuid;
  v_refusal jsonb;
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
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
               'message_id', m.id, 'direction', m.direction, 'body', m.body, 'status', m.status,
               'error', m.error, 'wa_message_id', m.wa_message_id, 'created_at', m.created_at,
               'sent_at', m.sent_at, 'delivered_at', m.delivered_at, 'read_at', m.read_at)
               order by m.n) filter (where m.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor(m.created_at, m.id::text)) filter (where m.n = p_limit) end)
    from (
      select m.*, row_number() over (order by m.created_at desc, m.id desc) as n
      from leads.messages m
      where m.workspace_id = p_workspace_id and m.conversation_id = p_conversation_id
        and (m.created_at, m.id) < (v_before_at, v_before_id)
      order by m.created_at desc, m.id desc
      limit p_limit + 1) m);
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
