-- Platform: idempotency keys (Stripe semantics) for POST /api requests.
--
-- A keyed request runs in one explicit transaction: platform.idempotency_begin takes a transaction
-- advisory lock on (scope, key) and says whether to run, replay or refuse; the request's own function
-- calls follow in the same transaction; platform.idempotency_complete stores the response; commit.
-- So the stored response and the effect it reports commit together or not at all.
--
-- The table is platform-global (a key's scope is the caller, not a workspace): the scope is
-- 'user:<token sub>'. Anonymous callers cannot use keys (the server refuses them before calling).

create table platform.idempotency_keys (
  scope text not null check (length(scope) between 1 and 100),
  key text not null check (length(key) between 1 and 255),
  request_hash text not null,
  status integer not null check (status between 100 and 599),
  body text not null,
  content_type text,
  location text,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (scope, key)
);

create index idempotency_keys_expires_at on platform.idempotency_keys (expires_at);

/*
 * platform.idempotency_begin(scope, key, request_hash) → jsonb: starts a keyed request. Must run in the
 * request's transaction. Takes a transaction advisory lock on (scope, key) without waiting.
 * Returns {"state": "in_progress"} when another transaction holds the key (the first request still
 * runs), {"state": "reused"} when an unexpired response exists for a different request hash,
 * {"state": "replay", "status", "body", "content_type", "location"} when it exists for the same hash,
 * {"state": "new"} otherwise (an expired row counts as absent).
 */
create or replace function platform.idempotency_begin(p_scope text, p_key text, p_request_hash text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row platform.idempotency_keys;
begin
  if not pg_try_advisory_xact_lock(hashtextextended('platform.idempotency:' || p_scope || ':' || p_key, 0)) then
    return jsonb_build_object('state', 'in_progress');
  end if;
  select * into v_row
  from platform.idempotency_keys k
  where k.scope = p_scope and k.key = p_key and k.expires_at > now();
  if not found then
    return jsonb_build_object('state', 'new');
  end if;
  if v_row.request_hash <> p_request_hash then
    return jsonb_build_object('state', 'reused');
  end if;
  return jsonb_build_object('state', 'replay', 'status', v_row.status, 'body', v_row.body,
    'content_type', v_row.content_type, 'location', v_row.location);
end;
$$;
grant execute on function platform.idempotency_begin(text, text, text) to public;

/*
 * platform.idempotency_complete(scope, key, request_hash, status, body, content_type, location, ttl)
 * → void: stores the response of a keyed request, in the same transaction as its effect. Replaces an
 * expired row of the same key.
 */
create or replace function platform.idempotency_complete(
  p_scope text, p_key text, p_request_hash text, p_status integer, p_body text,
  p_content_type text, p_location text, p_ttl interval)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into platform.idempotency_keys as k
    (scope, key, request_hash, status, body, content_type, location, expires_at)
  values (p_scope, p_key, p_request_hash, p_status, p_body, p_content_type, p_location, now() + p_ttl)
  on conflict (scope, key) do update
    set request_hash = excluded.request_hash, status = excluded.status, body = excluded.body,
        content_type = excluded.content_type, location = excluded.location,
        created_at = now(), expires_at = excluded.expires_at
  where k.expires_at <= now();
$$;
grant execute on function platform.idempotency_complete(text, text, text, integer, text, text, text, interval) to public;

/*
 * platform.purge_idempotency_keys(limit) → integer: deletes up to `limit` expired keys (skipping rows
 * a running request holds) and returns how many. Run by the server's background purge.
 */
create or replace function platform.purge_idempotency_keys(p_limit integer)
returns integer
language sql
security definer
set search_path = ''
as $$
  with expired as (
    select k.scope, k.key
    from platform.idempotency_keys k
    where k.expires_at <= now()
    order by k.expires_at
    limit p_limit
    for update skip locked
  ), deleted as (
    delete from platform.idempotency_keys k
    using expired e
    where k.scope = e.scope and k.key = e.key
    returning 1
  )
  select count(*)::integer from deleted
$$;
grant execute on function platform.purge_idempotency_keys(integer) to public;

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
revoke execute on function leads.release_outbox(uuid, uuid) from public;
