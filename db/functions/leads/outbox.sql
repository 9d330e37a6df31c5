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

grant execute on function leads.claim_outbox(integer, interval) to lockstep_api;

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

grant execute on function leads.complete_outbox(uuid, uuid, text) to lockstep_api;

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

grant execute on function leads.fail_outbox(uuid, uuid, text, interval) to lockstep_api;

-- Graceful shutdown: a stopping server gives back the outbox rows it claimed but did not try yet.

/*
 * leads.release_outbox(p_workspace_id, p_outbox_id) → boolean: server only. Gives back a claimed row
 * that was not tried (a stopping worker's rest of a batch): the lease ends now and the attempt taken by
 * the claim is returned. False when the row is done or not found.
 */
create or replace function leads.release_outbox(p_workspace_id uuid, p_outbox_id uuid)
returns boolean
language sql
security definer
set search_path = ''
as $$
  update leads.outbox o
  set claimed_until = null, attempts = greatest(o.attempts - 1, 0)
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.done_at is null and o.claimed_until is not null
  returning true
$$;

grant execute on function leads.release_outbox(uuid, uuid) to lockstep_api;
