/*
 * Delivery statuses of outbound messages. Meta reports them by wamid, which a message gets only when the
 * worker records the accepted send; an update can arrive before that commit, so one for a wamid no
 * message has yet is kept in leads.pending_statuses and applied when the send is recorded. Both sides
 * take a lock on the wamid first, so an update never falls between the check and the recording.
 */

/*
 * leads.lock_wa_message(workspace, wamid): serialises the recording of a send with the status updates
 * for its wamid (leads.record_whatsapp_status, leads.record_outbox_send).
 */
create or replace function leads.lock_wa_message(p_workspace_id uuid, p_wa_message_id text)
returns void
language sql
set search_path = ''
as $$
  select pg_advisory_xact_lock(hashtextextended('leads.wa_message:' || p_workspace_id::text || ':' || p_wa_message_id, 0))
$$;

/*
 * leads.apply_message_status(workspace, message, status, error, at) → boolean: moves an outbound message
 * forward to status (sent < delivered < read < failed), stamping that status's time with p_at; false when
 * it is already as far, so a late 'delivered' never overwrites 'read'. error is kept for 'failed' only.
 */
create or replace function leads.apply_message_status(p_workspace_id uuid, p_message_id uuid, p_status text, p_error text, p_at timestamptz)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  update leads.messages m
  set status = p_status,
      error = case when p_status = 'failed' then p_error else m.error end,
      sent_at = coalesce(m.sent_at, case when p_status = 'sent' then p_at end),
      delivered_at = coalesce(m.delivered_at, case when p_status = 'delivered' then p_at end),
      read_at = coalesce(m.read_at, case when p_status = 'read' then p_at end),
      failed_at = coalesce(m.failed_at, case when p_status = 'failed' then p_at end),
      updated_at = now()
  where m.workspace_id = p_workspace_id and m.id = p_message_id and m.direction = 'out'
    and leads.delivery_rank(p_status) > leads.delivery_rank(m.status);
  return found;
end;
$$;

/*
 * leads.record_whatsapp_status(p_workspace_id, p_status) → text: one status update of a webhook delivery
 * (Meta's statuses[] entry), for leads.ingest_whatsapp. 'applied' when it moved the outbound message with
 * that wamid forward; 'unchanged' when that message is already as far (or the wamid is an inbound
 * message's); 'pending' when no message has the wamid yet: kept, with the send's
 * biz_opaque_callback_data, until the send is recorded; 'skipped' when it is not a status update Lockstep
 * knows. Keeping one also deletes the workspace's kept updates older than a day, which no send claimed.
 */
create or replace function leads.record_whatsapp_status(p_workspace_id uuid, p_status jsonb)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_wa_id text := p_status ->> 'id';
  v_state text := p_status ->> 'status';
  v_error text;
  v_message_id uuid;
  v_direction text;
begin
  if v_state is null or v_state not in ('sent', 'delivered', 'read', 'failed') or v_wa_id is null or length(v_wa_id) > 200 then
    return 'skipped';
  end if;
  if v_state = 'failed' then
    v_error := left(coalesce(p_status -> 'errors' -> 0 ->> 'title', p_status -> 'errors' -> 0 ->> 'message', 'failed'), 2000);
  end if;

  perform leads.lock_wa_message(p_workspace_id, v_wa_id);
  select m.id, m.direction into v_message_id, v_direction
  from leads.messages m
  where m.workspace_id = p_workspace_id and m.wa_message_id = v_wa_id;
  if v_message_id is null then
    insert into leads.pending_statuses (workspace_id, wa_message_id, status, error, callback_data)
    values (p_workspace_id, v_wa_id, v_state, v_error, left(p_status ->> 'biz_opaque_callback_data', 512))
    on conflict (workspace_id, wa_message_id, status) do nothing;
    delete from leads.pending_statuses p
    where p.workspace_id = p_workspace_id and p.received_at < now() - interval '1 day';
    return 'pending';
  end if;
  if v_direction = 'out' and leads.apply_message_status(p_workspace_id, v_message_id, v_state, v_error, now()) then
    return 'applied';
  end if;
  return 'unchanged';
end;
$$;

/*
 * leads.record_outbox_send(p_workspace_id, p_outbox_id, p_wa_message_id) → void: the Cloud API accepted
 * the row's message as p_wa_message_id: the row is done, the message is sent with that id, and the status
 * updates that came for it first are applied (with the time each arrived) and dropped. For
 * leads.complete_outbox and leads.begin_outbox_attempt, which hold the row.
 */
create or replace function leads.record_outbox_send(p_workspace_id uuid, p_outbox_id uuid, p_wa_message_id text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_message_id uuid;
  v_pending record;
begin
  -- last_error stays: the history of a retried send is worth keeping.
  update leads.outbox o set done_at = now(), claimed_until = null
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.done_at is null
  returning o.message_id into v_message_id;
  if v_message_id is null then
    raise exception 'leads.record_outbox_send: outbox row % is not pending', p_outbox_id using errcode = '55000';
  end if;
  perform leads.lock_wa_message(p_workspace_id, p_wa_message_id);
  update leads.messages m
  set wa_message_id = p_wa_message_id, sent_at = now(), updated_at = now(),
      status = case when leads.delivery_rank(m.status) < 1 then 'sent' else m.status end
  where m.workspace_id = p_workspace_id and m.id = v_message_id;
  for v_pending in
    delete from leads.pending_statuses p
    where p.workspace_id = p_workspace_id and p.wa_message_id = p_wa_message_id
    returning p.status, p.error, p.received_at
  loop
    perform leads.apply_message_status(p_workspace_id, v_message_id, v_pending.status, v_pending.error, v_pending.received_at);
  end loop;
end;
$$;
