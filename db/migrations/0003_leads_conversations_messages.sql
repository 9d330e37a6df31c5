-- Leads: leads and their WhatsApp conversations and messages; the WhatsApp connection of a workspace;
-- the outbox of messages to send. Contacts come from CRM (crm.upsert_contact, by normalised phone).

create schema if not exists leads;

create table leads.leads (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  contact_id uuid not null,
  type text not null constraint leads_type_valid check (type in ('order', 'inquiry', 'booking', 'support', 'other')),
  status text not null default 'new' constraint leads_status_valid check (status in ('new', 'contacted', 'qualified', 'won', 'lost')),
  details text check (length(details) <= 10000),
  source text not null default 'manual' check (source in ('manual', 'whatsapp')),
  -- The caller from the token (auth.uid()), never a client-supplied id; null for leads the webhook created.
  created_by uuid,
  assigned_to uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, contact_id) references crm.contacts (workspace_id, id)
);

create index leads_contact_idx on leads.leads (workspace_id, contact_id);
create index leads_created_idx on leads.leads (workspace_id, created_at desc);

create table leads.conversations (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  contact_id uuid not null,
  lead_id uuid,
  status text not null default 'active' constraint conversations_status_valid check (status in ('active', 'pending', 'closed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_message_at timestamptz,
  primary key (workspace_id, id),
  foreign key (workspace_id, contact_id) references crm.contacts (workspace_id, id),
  foreign key (workspace_id, lead_id) references leads.leads (workspace_id, id) on delete cascade
);

create index conversations_contact_idx on leads.conversations (workspace_id, contact_id, last_message_at desc);
create index conversations_lead_idx on leads.conversations (workspace_id, lead_id);

create table leads.messages (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  conversation_id uuid not null,
  direction text not null check (direction in ('in', 'out')),
  body text not null check (length(body) <= 4096),
  wa_message_id text check (length(wa_message_id) <= 200),
  status text not null constraint messages_status_valid
    check (status in ('received', 'queued', 'sent', 'delivered', 'read', 'failed')),
  error text,
  sent_by uuid,
  wa_timestamp timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  sent_at timestamptz,
  delivered_at timestamptz,
  read_at timestamptz,
  failed_at timestamptz,
  primary key (workspace_id, id),
  foreign key (workspace_id, conversation_id) references leads.conversations (workspace_id, id) on delete cascade,
  -- A redelivered webhook carries the same message id: this is what makes it store nothing new.
  constraint messages_wa_message_id_unique unique (workspace_id, wa_message_id)
);

create index messages_conversation_idx on leads.messages (workspace_id, conversation_id, created_at);

/*
 * One WhatsApp Business phone number per workspace. A phone number id must belong to one workspace
 * only, but the tenant rules put workspace_id in every unique index; so the table holds it unique per
 * workspace and connect_whatsapp enforces the global rule under an advisory lock on the id (every
 * writer goes through it). The access token is never returned by a callable function.
 */
create table leads.whatsapp_connections (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  phone_number_id text not null check (phone_number_id ~ '^[0-9]{1,32}$'),
  access_token text not null check (length(access_token) between 1 and 4096),
  connected_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, id),
  constraint whatsapp_connections_one_per_workspace unique (workspace_id),
  constraint whatsapp_connections_phone_number_unique unique (workspace_id, phone_number_id)
);

create index whatsapp_connections_phone_number_idx on leads.whatsapp_connections (phone_number_id);

/*
 * Messages waiting to be sent by the worker, written in the same transaction as the message. A row is
 * claimed for a lease (claimed_until) with FOR UPDATE SKIP LOCKED, so two server instances never take
 * the same row; done_at marks it finished (sent or given up).
 */
create table leads.outbox (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  message_id uuid not null,
  recipient text not null,
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  claimed_until timestamptz,
  last_error text,
  done_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, message_id) references leads.messages (workspace_id, id) on delete cascade,
  constraint outbox_one_per_message unique (workspace_id, message_id)
);

create index outbox_due_idx on leads.outbox (next_attempt_at) where done_at is null;

/*
 * leads.lock_customer(workspace, e164): serialises everything that finds-or-creates the conversation of
 * one customer (webhook deliveries, new leads), so two deliveries never both create a lead.
 */
create or replace function leads.lock_customer(p_workspace_id uuid, p_e164 text)
returns void
language sql
set search_path = ''
as $$
  select pg_advisory_xact_lock(hashtextextended('leads.customer:' || p_workspace_id::text || ':' || p_e164, 0))
$$;

/*
 * create_lead_with_conversation(p_workspace_id, p_customer_phone, p_customer_name, p_lead_type, p_details,
 * p_conversation_status, p_lead_status) → {success, lead_id, conversation_id, contact_id}: finds or
 * creates the contact by normalised phone (crm.upsert_contact) and creates the lead and its conversation
 * together; every check runs before the first write, so a refusal leaves no row. The lead's owner is
 * the caller (auth.uid()).
 * Refusals: workspace_not_found, phone_required, invalid_phone, customer_name_required,
 * invalid_lead_type, invalid_lead_status, invalid_conversation_status, details_too_long.
 */
create or replace function public.create_lead_with_conversation(
  p_workspace_id uuid,
  p_customer_phone text,
  p_customer_name text,
  p_lead_type text,
  p_details text default null,
  p_conversation_status text default 'active',
  p_lead_status text default 'new')
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
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_customer_phone is null or length(btrim(p_customer_phone)) = 0 then
    return platform.refusal('phone_required', 'A lead needs the customer''s phone number');
  end if;
  v_e164 := crm.normalize_phone(p_customer_phone);
  if v_e164 is null then
    return crm.invalid_phone(p_customer_phone);
  end if;
  if p_customer_name is null or length(btrim(p_customer_name)) = 0 then
    return platform.refusal('customer_name_required', 'A lead needs the customer''s name');
  end if;
  if p_lead_type is null or p_lead_type not in ('order', 'inquiry', 'booking', 'support', 'other') then
    return platform.refusal('invalid_lead_type', format('Lead type %L is not one of order, inquiry, booking, support, other', p_lead_type));
  end if;
  if p_lead_status is null or p_lead_status not in ('new', 'contacted', 'qualified', 'won', 'lost') then
    return platform.refusal('invalid_lead_status', format('Lead status %L is not one of new, contacted, qualified, won, lost', p_lead_status));
  end if;
  if p_conversation_status is null or p_conversation_status not in ('active', 'pending', 'closed') then
    return platform.refusal('invalid_conversation_status', format('Conversation status %L is not one of active, pending, closed', p_conversation_status));
  end if;
  if length(p_details) > 10000 then
    return platform.refusal('details_too_long', 'Lead details have at most 10000 characters');
  end if;

  perform leads.lock_customer(p_workspace_id, v_e164);
  v_contact := crm.upsert_contact(p_workspace_id, v_e164, p_customer_name);
  if not (v_contact ->> 'success')::boolean then
    -- Checked above; reached only if CRM's rules grow stricter. Raise so nothing stays written.
    raise exception 'crm.upsert_contact refused: %', v_contact ->> 'code' using errcode = '22023';
  end if;
  v_contact_id := (v_contact ->> 'contact_id')::uuid;

  insert into leads.leads (workspace_id, contact_id, type, status, details, created_by, assigned_to)
  values (p_workspace_id, v_contact_id, p_lead_type, p_lead_status, nullif(btrim(p_details), ''), v_user, v_user)
  returning id into v_lead_id;

  insert into leads.conversations (workspace_id, contact_id, lead_id, status)
  values (p_workspace_id, v_contact_id, v_lead_id, p_conversation_status)
  returning id into v_conversation_id;

  return jsonb_build_object('success', true, 'lead_id', v_lead_id, 'conversation_id', v_conversation_id,
    'contact_id', v_contact_id);
end;
$$;

grant execute on function public.create_lead_with_conversation(uuid, text, text, text, text, text, text) to public;

/*
 * connect_whatsapp(p_workspace_id, p_phone_number_id, p_access_token) → {success, phone_number_id}:
 * connects (or reconnects) the workspace's WhatsApp Business number; owners and admins. The token is
 * stored and never returned. A phone number id belongs to one workspace: checked under an advisory
 * lock on the id, so two workspaces connecting the same number at once cannot both succeed.
 * Refusals: workspace_not_found, forbidden, invalid_phone_number_id, access_token_required,
 * phone_number_taken.
 */
create or replace function public.connect_whatsapp(p_workspace_id uuid, p_phone_number_id text, p_access_token text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_role text := platform.member_role(p_workspace_id, v_user);
begin
  if v_role is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if v_role not in ('owner', 'admin') then
    return platform.refusal('forbidden', 'Only owners and admins connect WhatsApp');
  end if;
  if p_phone_number_id is null or p_phone_number_id !~ '^[0-9]{1,32}$' then
    return platform.refusal('invalid_phone_number_id', 'A phone number id is the digits Meta shows for the number');
  end if;
  if p_access_token is null or length(btrim(p_access_token)) = 0 or length(p_access_token) > 4096 then
    return platform.refusal('access_token_required', 'An access token (at most 4096 characters) is required');
  end if;

  perform pg_advisory_xact_lock(hashtextextended('leads.phone_number_id:' || p_phone_number_id, 0));
  if exists (
    select 1 from leads.whatsapp_connections c
    where c.phone_number_id = p_phone_number_id and c.workspace_id <> p_workspace_id
  ) then
    return platform.refusal('phone_number_taken', 'That phone number is connected to another workspace');
  end if;

  insert into leads.whatsapp_connections (workspace_id, phone_number_id, access_token, connected_by)
  values (p_workspace_id, p_phone_number_id, p_access_token, v_user)
  on conflict (workspace_id) do update
    set phone_number_id = excluded.phone_number_id,
        access_token = excluded.access_token,
        connected_by = excluded.connected_by,
        updated_at = now();

  return jsonb_build_object('success', true, 'phone_number_id', p_phone_number_id);
end;
$$;

grant execute on function public.connect_whatsapp(uuid, text, text) to public;

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

grant execute on function public.send_whatsapp_message(uuid, text, text, boolean, text, text) to public;

/*
 * list_leads(p_workspace_id, p_status, p_limit) → {success, leads: [...]}: newest first, members only.
 * Refusals: workspace_not_found.
 */
create or replace function public.list_leads(p_workspace_id uuid, p_status text default null, p_limit integer default 100)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  return jsonb_build_object('success', true, 'leads', (
    select coalesce(jsonb_agg(jsonb_build_object(
             'lead_id', l.id, 'contact_id', l.contact_id, 'type', l.type, 'status', l.status,
             'details', l.details, 'source', l.source, 'created_by', l.created_by,
             'assigned_to', l.assigned_to, 'created_at', l.created_at) order by l.created_at desc, l.id), '[]'::jsonb)
    from (
      select * from leads.leads l
      where l.workspace_id = p_workspace_id and (p_status is null or l.status = p_status)
      order by l.created_at desc, l.id
      limit least(greatest(coalesce(p_limit, 100), 1), 1000)
    ) l));
end;
$$;

grant execute on function public.list_leads(uuid, text, integer) to public;

/*
 * list_conversations(p_workspace_id, p_status, p_limit) → {success, conversations: [...]}: most recent
 * activity first, members only. Refusals: workspace_not_found.
 */
create or replace function public.list_conversations(p_workspace_id uuid, p_status text default null, p_limit integer default 100)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  return jsonb_build_object('success', true, 'conversations', (
    select coalesce(jsonb_agg(jsonb_build_object(
             'conversation_id', c.id, 'contact_id', c.contact_id, 'lead_id', c.lead_id, 'status', c.status,
             'created_at', c.created_at, 'last_message_at', c.last_message_at)
             order by coalesce(c.last_message_at, c.created_at) desc, c.id), '[]'::jsonb)
    from (
      select * from leads.conversations c
      where c.workspace_id = p_workspace_id and (p_status is null or c.status = p_status)
      order by coalesce(c.last_message_at, c.created_at) desc, c.id
      limit least(greatest(coalesce(p_limit, 100), 1), 1000)
    ) c));
end;
$$;

grant execute on function public.list_conversations(uuid, text, integer) to public;

/*
 * list_messages(p_workspace_id, p_conversation_id, p_limit) → {success, messages: [...]}: oldest first,
 * members only. Refusals: workspace_not_found, conversation_not_found.
 */
create or replace function public.list_messages(p_workspace_id uuid, p_conversation_id uuid, p_limit integer default 500)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if not exists (select 1 from leads.conversations c where c.workspace_id = p_workspace_id and c.id = p_conversation_id) then
    return platform.refusal('conversation_not_found', 'Conversation not found');
  end if;
  return jsonb_build_object('success', true, 'messages', (
    select coalesce(jsonb_agg(jsonb_build_object(
             'message_id', m.id, 'direction', m.direction, 'body', m.body, 'status', m.status,
             'error', m.error, 'wa_message_id', m.wa_message_id, 'created_at', m.created_at,
             'sent_at', m.sent_at, 'delivered_at', m.delivered_at, 'read_at', m.read_at)
             order by m.created_at, m.id), '[]'::jsonb)
    from (
      select * from leads.messages m
      where m.workspace_id = p_workspace_id and m.conversation_id = p_conversation_id
      order by m.created_at, m.id
      limit least(greatest(coalesce(p_limit, 500), 1), 5000)
    ) m));
end;
$$;

grant execute on function public.list_messages(uuid, uuid, integer) to public;

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

/*
 * leads.ingest_whatsapp(p_payload jsonb) → {success, stored, duplicates, statuses, skipped, unroutable}:
 * server only (the signed webhook). Routes each change by metadata.phone_number_id to the workspace that
 * connected it. Per inbound message, under a lock on the customer: a known message id stores nothing;
 * a new customer gets contact + lead + conversation + message; a known one gets the message appended to
 * their open conversation. Status updates move outbound messages forward (sent|delivered|read|failed).
 * All in the caller's one transaction. Never refuses: what cannot be routed is counted and reported.
 */
create or replace function leads.ingest_whatsapp(p_payload jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_value jsonb;
  v_phone_number_id text;
  v_workspace_id uuid;
  v_message jsonb;
  v_status jsonb;
  v_wa_id text;
  v_e164 text;
  v_name text;
  v_body text;
  v_contact jsonb;
  v_contact_id uuid;
  v_conversation_id uuid;
  v_lead_id uuid;
  v_at timestamptz;
  v_stored integer := 0;
  v_duplicates integer := 0;
  v_statuses integer := 0;
  v_skipped integer := 0;
  v_unroutable text[] := '{}';
begin
  for v_value in
    select ch -> 'value'
    from jsonb_array_elements(case when jsonb_typeof(p_payload -> 'entry') = 'array' then p_payload -> 'entry' else '[]' end) e,
         jsonb_array_elements(case when jsonb_typeof(e -> 'changes') = 'array' then e -> 'changes' else '[]' end) ch
  loop
    v_phone_number_id := v_value -> 'metadata' ->> 'phone_number_id';
    select c.workspace_id into v_workspace_id
    from leads.whatsapp_connections c
    where c.phone_number_id = v_phone_number_id
    order by c.created_at
    limit 1;
    if v_workspace_id is null then
      v_unroutable := v_unroutable || coalesce(v_phone_number_id, '(none)');
      continue;
    end if;

    for v_message in
      select m from jsonb_array_elements(case when jsonb_typeof(v_value -> 'messages') = 'array' then v_value -> 'messages' else '[]' end) m
    loop
      v_wa_id := v_message ->> 'id';
      v_e164 := crm.normalize_phone('+' || (v_message ->> 'from'));
      if v_wa_id is null or length(v_wa_id) > 200 or v_e164 is null then
        v_skipped := v_skipped + 1;
        continue;
      end if;

      perform leads.lock_customer(v_workspace_id, v_e164);
      if exists (select 1 from leads.messages m where m.workspace_id = v_workspace_id and m.wa_message_id = v_wa_id) then
        v_duplicates := v_duplicates + 1;
        continue;
      end if;

      select coalesce(
               (select c -> 'profile' ->> 'name' from jsonb_array_elements(
                  case when jsonb_typeof(v_value -> 'contacts') = 'array' then v_value -> 'contacts' else '[]' end) c
                where c ->> 'wa_id' = v_message ->> 'from' limit 1),
               v_e164)
        into v_name;
      v_body := left(case
        when v_message ->> 'type' = 'text' then coalesce(v_message -> 'text' ->> 'body', '')
        else '[' || coalesce(v_message ->> 'type', 'unknown') || ' message]'
      end, 4096);
      v_at := case when v_message ->> 'timestamp' ~ '^[0-9]{1,12}$' then to_timestamp((v_message ->> 'timestamp')::bigint) end;

      v_contact := crm.upsert_contact(v_workspace_id, v_e164, coalesce(nullif(btrim(v_name), ''), v_e164));
      if not (v_contact ->> 'success')::boolean then
        v_skipped := v_skipped + 1;
        continue;
      end if;
      v_contact_id := (v_contact ->> 'contact_id')::uuid;

      v_conversation_id := null;
      select c.id into v_conversation_id
      from leads.conversations c
      where c.workspace_id = v_workspace_id and c.contact_id = v_contact_id and c.status <> 'closed'
      order by c.last_message_at desc nulls last, c.created_at desc
      limit 1;
      if v_conversation_id is null then
        insert into leads.leads (workspace_id, contact_id, type, details, source)
        values (v_workspace_id, v_contact_id, 'inquiry', left(v_body, 10000), 'whatsapp')
        returning id into v_lead_id;
        insert into leads.conversations (workspace_id, contact_id, lead_id)
        values (v_workspace_id, v_contact_id, v_lead_id)
        returning id into v_conversation_id;
      end if;

      insert into leads.messages (workspace_id, conversation_id, direction, body, wa_message_id, status, wa_timestamp)
      values (v_workspace_id, v_conversation_id, 'in', v_body, v_wa_id, 'received', v_at)
      on conflict (workspace_id, wa_message_id) do nothing;
      update leads.conversations c set last_message_at = now(), updated_at = now()
      where c.workspace_id = v_workspace_id and c.id = v_conversation_id;
      v_stored := v_stored + 1;
    end loop;

    for v_status in
      select s from jsonb_array_elements(case when jsonb_typeof(v_value -> 'statuses') = 'array' then v_value -> 'statuses' else '[]' end) s
    loop
      if v_status ->> 'status' not in ('sent', 'delivered', 'read', 'failed') then
        v_skipped := v_skipped + 1;
        continue;
      end if;
      update leads.messages m
      set status = v_status ->> 'status',
          error = case when v_status ->> 'status' = 'failed'
                    then coalesce(v_status -> 'errors' -> 0 ->> 'title', v_status -> 'errors' -> 0 ->> 'message', 'failed')
                    else m.error end,
          sent_at = coalesce(m.sent_at, case when v_status ->> 'status' = 'sent' then now() end),
          delivered_at = coalesce(m.delivered_at, case when v_status ->> 'status' = 'delivered' then now() end),
          read_at = coalesce(m.read_at, case when v_status ->> 'status' = 'read' then now() end),
          failed_at = coalesce(m.failed_at, case when v_status ->> 'status' = 'failed' then now() end),
          updated_at = now()
      where m.workspace_id = v_workspace_id and m.wa_message_id = v_status ->> 'id' and m.direction = 'out'
        and leads.delivery_rank(v_status ->> 'status') > leads.delivery_rank(m.status);
      if found then
        v_statuses := v_statuses + 1;
      end if;
    end loop;
  end loop;

  return jsonb_build_object('success', true, 'stored', v_stored, 'duplicates', v_duplicates,
    'statuses', v_statuses, 'skipped', v_skipped, 'unroutable', to_jsonb(v_unroutable));
end;
$$;

/*
 * leads.claim_outbox(p_limit, p_lease) → jsonb array of {workspace_id, outbox_id, message_id, attempts,
 * recipient, body, phone_number_id, access_token}: server only (the worker). Takes due rows with
 * FOR UPDATE SKIP LOCKED and leases them for p_lease, so concurrent workers never take one row twice.
 */
create or replace function leads.claim_outbox(p_limit integer, p_lease interval)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  with due as (
    select o.workspace_id, o.id
    from leads.outbox o
    where o.done_at is null and o.next_attempt_at <= now()
      and (o.claimed_until is null or o.claimed_until < now())
    order by o.next_attempt_at
    limit p_limit
    for update skip locked
  ), claimed as (
    update leads.outbox o
    set claimed_until = now() + p_lease, attempts = o.attempts + 1
    from due
    where o.workspace_id = due.workspace_id and o.id = due.id
    returning o.*
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'workspace_id', c.workspace_id, 'outbox_id', c.id, 'message_id', c.message_id,
           'attempts', c.attempts, 'recipient', c.recipient, 'body', m.body,
           'phone_number_id', w.phone_number_id, 'access_token', w.access_token)), '[]'::jsonb)
  from claimed c
  join leads.messages m on m.workspace_id = c.workspace_id and m.id = c.message_id
  left join leads.whatsapp_connections w on w.workspace_id = c.workspace_id
$$;

/*
 * leads.complete_outbox(p_workspace_id, p_outbox_id, p_wa_message_id) → boolean: server only. The Cloud
 * API accepted the message: the outbox row is done and the message is sent with its WhatsApp id.
 */
create or replace function leads.complete_outbox(p_workspace_id uuid, p_outbox_id uuid, p_wa_message_id text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_message_id uuid;
begin
  -- last_error stays: the history of a retried send is worth keeping.
  update leads.outbox o set done_at = now(), claimed_until = null
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.done_at is null
  returning o.message_id into v_message_id;
  if v_message_id is null then
    return false;
  end if;
  update leads.messages m
  set wa_message_id = p_wa_message_id, sent_at = now(), updated_at = now(),
      status = case when leads.delivery_rank(m.status) < 1 then 'sent' else m.status end
  where m.workspace_id = p_workspace_id and m.id = v_message_id;
  return true;
end;
$$;

/*
 * leads.fail_outbox(p_workspace_id, p_outbox_id, p_error, p_retry_after) → boolean: server only. With
 * p_retry_after, the row is released for another attempt after that delay; without, it is given up and
 * the message is marked failed with p_error.
 */
create or replace function leads.fail_outbox(p_workspace_id uuid, p_outbox_id uuid, p_error text, p_retry_after interval)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_message_id uuid;
begin
  if p_retry_after is not null then
    update leads.outbox o
    set next_attempt_at = now() + p_retry_after, claimed_until = null, last_error = left(p_error, 2000)
    where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.done_at is null;
    return found;
  end if;
  update leads.outbox o set done_at = now(), claimed_until = null, last_error = left(p_error, 2000)
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.done_at is null
  returning o.message_id into v_message_id;
  if v_message_id is null then
    return false;
  end if;
  update leads.messages m
  set status = 'failed', error = left(p_error, 2000), failed_at = now(), updated_at = now()
  where m.workspace_id = p_workspace_id and m.id = v_message_id;
  return true;
end;
$$;

-- Server-only functions: not callable by clients even if the leads schema were exposed.
revoke execute on function leads.ingest_whatsapp(jsonb) from public;
revoke execute on function leads.claim_outbox(integer, interval) from public;
revoke execute on function leads.complete_outbox(uuid, uuid, text) from public;
revoke execute on function leads.fail_outbox(uuid, uuid, text, interval) from public;
