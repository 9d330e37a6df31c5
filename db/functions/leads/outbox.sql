/*
 * The outbox worker's steps (recording a send, and the status updates that came first: statuses.sql). A
 * claim leases a batch of due rows and gives each row a fresh lease token;
 * right before each send the worker renews that row's lease (begin_outbox_attempt), because the rows of a
 * batch are sent one after another and the batch can take longer than any lease. Every later step names
 * the token: once another worker has claimed the row (the lease ran out), the old holder's begin,
 * complete, fail and release change nothing, so it neither sends nor records over the new holder.
 */

/*
 * leads.claim_outbox(p_limit, p_lease) → jsonb array of {workspace_id, outbox_id, lease_token, message_id,
 * attempts, recipient, body, template: {name, language, parameters} | null, phone_number_id,
 * access_token}: server only (the worker). Takes due rows (next_attempt_at passed: a retry waits out its
 * backoff) and leases them for p_lease under a new token each. No FOR UPDATE (Citus refuses it across
 * shards): the candidates are read without a lock, then claimed by an update whose WHERE re-checks that
 * the row is still due and unleased; a row another worker claimed meanwhile is re-checked on its committed
 * version (READ COMMITTED) and left out, so concurrent workers never take one row twice.
 * attempts counts the sends begun so far.
 */
create or replace function leads.claim_outbox(p_limit integer, p_lease interval)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_claimed jsonb;
begin
  -- What is sent is read with the candidates: Citus joins the claimed rows (an intermediate result) with
  -- other distributed tables only through such colocated joins on workspace_id.
  with due as (
    select o.workspace_id, o.id, gen_random_uuid() as lease_token, m.body, m.template_name, m.template_language,
           m.template_parameters, w.phone_number_id, w.access_token
    from leads.outbox o
    join leads.messages m on m.workspace_id = o.workspace_id and m.id = o.message_id
    left join leads.whatsapp_connections w on w.workspace_id = o.workspace_id
    where o.done_at is null and o.next_attempt_at <= v_now
      and (o.claimed_until is null or o.claimed_until < v_now)
    order by o.next_attempt_at
    limit p_limit
  ), claimed as (
    update leads.outbox o
    set claimed_until = v_now + p_lease, lease_token = due.lease_token
    from due
    where o.workspace_id = due.workspace_id and o.id = due.id
      and o.done_at is null and o.next_attempt_at <= v_now
      and (o.claimed_until is null or o.claimed_until < v_now)
    returning o.workspace_id, o.id, o.lease_token, o.message_id, o.attempts, o.recipient
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'workspace_id', c.workspace_id, 'outbox_id', c.id, 'lease_token', c.lease_token, 'message_id', c.message_id,
           'attempts', c.attempts, 'recipient', c.recipient, 'body', d.body,
           'template', case when d.template_name is not null then jsonb_build_object(
             'name', d.template_name, 'language', d.template_language, 'parameters', d.template_parameters) end,
           'phone_number_id', d.phone_number_id, 'access_token', d.access_token)), '[]'::jsonb)
  into v_claimed
  from claimed c
  join due d on d.workspace_id = c.workspace_id and d.id = c.id;
  return v_claimed;
end;
$$;

grant execute on function leads.claim_outbox(integer, interval) to lockstep_api;

/*
 * leads.begin_outbox_attempt(p_workspace_id, p_outbox_id, p_lease_token, p_lease) → {started, attempts}
 * or {started: false, recorded}: server only. Called right before a send: while the token still holds the
 * row (nobody claimed it since), the lease is renewed for p_lease from now and the attempt is counted; the
 * worker sends only on started: true. A token that was taken over gets {started: false} and changes
 * nothing. After an earlier attempt, a status update of Meta's that carries the message id as its
 * biz_opaque_callback_data means that attempt was accepted and never recorded (the server died between the
 * Cloud API's 200 and the commit): the send is recorded with that wamid, {started: false, recorded: wamid},
 * instead of being sent again.
 */
create or replace function leads.begin_outbox_attempt(p_workspace_id uuid, p_outbox_id uuid, p_lease_token uuid, p_lease interval)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_message_id uuid;
  v_attempts integer;
  v_wa_id text;
begin
  select o.message_id, o.attempts into v_message_id, v_attempts
  from leads.outbox o
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.lease_token = p_lease_token and o.done_at is null
  for update;
  if v_message_id is null then
    return jsonb_build_object('started', false);
  end if;
  if v_attempts > 0 then
    select p.wa_message_id into v_wa_id
    from leads.pending_statuses p
    where p.workspace_id = p_workspace_id and p.callback_data = v_message_id::text
    order by p.received_at
    limit 1;
    if v_wa_id is not null then
      perform leads.record_outbox_send(p_workspace_id, p_outbox_id, v_wa_id);
      return jsonb_build_object('started', false, 'recorded', v_wa_id);
    end if;
  end if;
  update leads.outbox o set claimed_until = now() + p_lease, attempts = o.attempts + 1
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id
  returning o.attempts into v_attempts;
  return jsonb_build_object('started', true, 'attempts', v_attempts);
end;
$$;

grant execute on function leads.begin_outbox_attempt(uuid, uuid, uuid, interval) to lockstep_api;

/*
 * leads.complete_outbox(p_workspace_id, p_outbox_id, p_lease_token, p_wa_message_id) → boolean: server
 * only. The Cloud API accepted the message: the outbox row is done, the message is sent with its WhatsApp
 * id, and status updates that arrived for that id before this commit are applied (leads.record_outbox_send).
 * True also when this token already completed the row with this id (a retried completion whose first try
 * committed unseen); false when the token no longer holds the row, and nothing changes.
 */
create or replace function leads.complete_outbox(p_workspace_id uuid, p_outbox_id uuid, p_lease_token uuid, p_wa_message_id text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1
  from leads.outbox o
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.lease_token = p_lease_token and o.done_at is null
  for update;
  if not found then
    return exists (
      select 1
      from leads.outbox o
      join leads.messages m on m.workspace_id = o.workspace_id and m.id = o.message_id
      where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.lease_token = p_lease_token
        and o.done_at is not null and m.wa_message_id = p_wa_message_id);
  end if;
  perform leads.record_outbox_send(p_workspace_id, p_outbox_id, p_wa_message_id);
  return true;
end;
$$;

grant execute on function leads.complete_outbox(uuid, uuid, uuid, text) to lockstep_api;

/*
 * leads.fail_outbox(p_workspace_id, p_outbox_id, p_lease_token, p_retryable, p_error_code, p_error,
 * p_retry_base, p_retry_cap, p_max_attempts) → {recorded, status, attempts, next_attempt_at}: server only.
 * The attempt failed as the worker classified the Cloud API's answer (p_retryable; p_error_code: a Graph
 * code such as 131047, or http_503, timeout, network_error). The row keeps the code and the text as its
 * last error. Retryable, and fewer than p_max_attempts sends begun: the row waits p_retry_base × 2^(attempts
 * − 1), at most p_retry_cap, and the message stays 'queued'. Otherwise the row is done and the message is
 * 'failed' with the reason (after the last retry, saying how many attempts were made). recorded: false,
 * changing nothing, when the token no longer holds the row: a stale failure must not release the new
 * holder's lease.
 */
create or replace function leads.fail_outbox(
  p_workspace_id uuid,
  p_outbox_id uuid,
  p_lease_token uuid,
  p_retryable boolean,
  p_error_code text,
  p_error text,
  p_retry_base interval,
  p_retry_cap interval,
  p_max_attempts integer)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row leads.outbox;
  v_code text := left(coalesce(p_error_code, 'unknown'), 64);
  v_error text := left(coalesce(p_error, 'The send failed'), 2000);
  v_delay interval;
begin
  select * into v_row
  from leads.outbox o
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.lease_token = p_lease_token and o.done_at is null
  for update;
  if v_row.id is null then
    return jsonb_build_object('recorded', false);
  end if;

  if coalesce(p_retryable, false) and v_row.attempts < coalesce(p_max_attempts, 10) then
    v_delay := least(coalesce(p_retry_base, interval '30 seconds') * power(2, least(greatest(v_row.attempts - 1, 0), 20)),
                     coalesce(p_retry_cap, interval '1 hour'));
    update leads.outbox o
    set next_attempt_at = now() + v_delay, claimed_until = null, last_error_code = v_code, last_error = v_error
    where o.workspace_id = p_workspace_id and o.id = p_outbox_id
    returning o.* into v_row;
    return jsonb_build_object('recorded', true, 'status', 'queued', 'attempts', v_row.attempts, 'next_attempt_at', v_row.next_attempt_at);
  end if;

  update leads.outbox o set done_at = now(), claimed_until = null, last_error_code = v_code, last_error = v_error
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id;
  update leads.messages m
  set status = 'failed', failed_at = now(), updated_at = now(),
      error = left(case when coalesce(p_retryable, false)
                        then format('Gave up after %s attempts; the last: %s', v_row.attempts, v_error)
                        else v_error end, 2000)
  where m.workspace_id = p_workspace_id and m.id = v_row.message_id;
  return jsonb_build_object('recorded', true, 'status', 'failed', 'attempts', v_row.attempts, 'next_attempt_at', null);
end;
$$;

grant execute on function leads.fail_outbox(uuid, uuid, uuid, boolean, text, text, interval, interval, integer) to lockstep_api;

-- Graceful shutdown: a stopping server gives back the outbox rows it claimed but did not try yet.

/*
 * leads.release_outbox(p_workspace_id, p_outbox_id, p_lease_token) → boolean: server only. Gives back a
 * claimed row that was not tried (a stopping worker's rest of a batch): the lease ends now. No attempt
 * was counted, as none began. False when the row is done, not found, or held under another token.
 */
create or replace function leads.release_outbox(p_workspace_id uuid, p_outbox_id uuid, p_lease_token uuid)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  update leads.outbox o
  set claimed_until = null
  where o.workspace_id = p_workspace_id and o.id = p_outbox_id and o.lease_token = p_lease_token
    and o.done_at is null and o.claimed_until is not null;
  return found;
end;
$$;

grant execute on function leads.release_outbox(uuid, uuid, uuid) to lockstep_api;
