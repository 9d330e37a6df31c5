/*
 * leads.store_whatsapp_connection(p_workspace_id, p_phone_number_id, p_access_token) → {success, phone_number_id}:
 * server only. Connects (or reconnects) the workspace's WhatsApp Business number; owners and admins
 * (from auth.uid()). The server calls it only after the Cloud API has confirmed that the token may read
 * that phone number id (PUT /api/workspaces/{id}/whatsapp/connection): a client could skip that check, so
 * it is not in public and /rest/v1/rpc cannot reach it. The token is stored and never returned. A phone
 * number id belongs to one workspace: checked under an advisory lock on the id, so two workspaces
 * connecting the same number at once cannot both succeed.
 * Refusals: workspace_not_found, forbidden, invalid_phone_number_id, access_token_required,
 * phone_number_taken.
 */
create or replace function leads.store_whatsapp_connection(p_workspace_id uuid, p_phone_number_id text, p_access_token text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_role text := platform.member_role(p_workspace_id, v_user);
  v_now timestamptz := now();
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
        updated_at = v_now;

  return jsonb_build_object('success', true, 'phone_number_id', p_phone_number_id);
end;
$$;

grant execute on function leads.store_whatsapp_connection(uuid, text, text) to lockstep_api;

/*
 * leads.number_workspace(p_phone_number_id) → uuid: the workspace a WhatsApp number delivers to (its
 * oldest connection), or null when no workspace has connected it. Read on its own, never inside a query
 * over the payload: on Citus a lateral join of a distributed table to it cannot be planned.
 */
create or replace function leads.number_workspace(p_phone_number_id text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_workspace_id uuid;
begin
  select c.workspace_id into v_workspace_id
  from leads.whatsapp_connections c
  where c.phone_number_id = p_phone_number_id
  order by c.created_at
  limit 1;
  return v_workspace_id;
end;
$$;

/*
 * leads.ingest_whatsapp(p_payload jsonb) → {success, stored, duplicates, statuses, pending, skipped, unroutable}:
 * server only (the signed webhook). Routes each change by metadata.phone_number_id to the workspace that
 * connected it. Per inbound message, under a lock on the customer (all of a delivery's customers are
 * locked first, sorted, so deliveries never deadlock): a known message id stores nothing;
 * a new customer gets contact + lead + conversation + message; a known one gets the message appended to
 * their open conversation. Status updates move outbound messages forward (sent|delivered|read|failed);
 * one for a wamid no message has yet is kept until the send is recorded (leads.record_whatsapp_status).
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
  v_pending integer := 0;
  v_skipped integer := 0;
  v_unroutable text[] := '{}'::text[];
  v_customer record;
  v_lock_workspaces uuid[] := '{}'::uuid[];
  v_lock_phones text[] := '{}'::text[];
begin
  -- Every customer lock of the delivery first, in one order (workspace, then e164): two deliveries
  -- naming the same customers in opposite orders would otherwise each hold one and wait for the other.
  -- Each number's workspace is looked up on its own (leads.number_workspace).
  for v_customer in
    select distinct ch -> 'value' -> 'metadata' ->> 'phone_number_id' as phone_number_id,
           crm.normalize_phone('+' || (m ->> 'from')) as e164
    from jsonb_array_elements(case when jsonb_typeof(p_payload -> 'entry') = 'array' then p_payload -> 'entry' else '[]' end) e,
         jsonb_array_elements(case when jsonb_typeof(e -> 'changes') = 'array' then e -> 'changes' else '[]' end) ch,
         jsonb_array_elements(case when jsonb_typeof(ch -> 'value' -> 'messages') = 'array' then ch -> 'value' -> 'messages' else '[]' end) m
    where crm.normalize_phone('+' || (m ->> 'from')) is not null
  loop
    v_workspace_id := leads.number_workspace(v_customer.phone_number_id);
    if v_workspace_id is not null then
      v_lock_workspaces := v_lock_workspaces || v_workspace_id;
      v_lock_phones := v_lock_phones || v_customer.e164;
    end if;
  end loop;
  for v_customer in
    select distinct u.workspace_id, u.e164
    from unnest(v_lock_workspaces, v_lock_phones) as u(workspace_id, e164)
    order by 1, 2
  loop
    perform leads.lock_customer(v_customer.workspace_id, v_customer.e164);
  end loop;

  for v_value in
    select ch -> 'value'
    from jsonb_array_elements(case when jsonb_typeof(p_payload -> 'entry') = 'array' then p_payload -> 'entry' else '[]' end) e,
         jsonb_array_elements(case when jsonb_typeof(e -> 'changes') = 'array' then e -> 'changes' else '[]' end) ch
  loop
    v_phone_number_id := v_value -> 'metadata' ->> 'phone_number_id';
    v_workspace_id := leads.number_workspace(v_phone_number_id);
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

      -- Held since the start; taken again (at no cost) in case the number was routed elsewhere meanwhile.
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
      case leads.record_whatsapp_status(v_workspace_id, v_status)
        when 'applied' then v_statuses := v_statuses + 1;
        when 'pending' then v_pending := v_pending + 1;
        when 'skipped' then v_skipped := v_skipped + 1;
        else null;
      end case;
    end loop;
  end loop;

  return jsonb_build_object('success', true, 'stored', v_stored, 'duplicates', v_duplicates,
    'statuses', v_statuses, 'pending', v_pending, 'skipped', v_skipped, 'unroutable', to_jsonb(v_unroutable));
end;
$$;

-- Server-only functions: not callable by clients even if the leads schema were exposed.
grant execute on function leads.ingest_whatsapp(jsonb) to lockstep_api;
