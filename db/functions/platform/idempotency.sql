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

grant execute on function platform.idempotency_begin(text, text, text) to lockstep_api;

/*
 * platform.idempotency_complete(scope, key, request_hash, status, body, content_type, location, ttl)
 * → void: stores the response of a keyed request, in the same transaction as its effect. Replaces an
 * expired row of the same key.
 */
create or replace function platform.idempotency_complete(
  p_scope text, p_key text, p_request_hash text, p_status integer, p_body text,
  p_content_type text, p_location text, p_ttl interval)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := now();
begin
  insert into platform.idempotency_keys as k
    (scope, key, request_hash, status, body, content_type, location, created_at, expires_at)
  values (p_scope, p_key, p_request_hash, p_status, p_body, p_content_type, p_location, v_now, v_now + p_ttl)
  on conflict (scope, key) do update
    set request_hash = excluded.request_hash, status = excluded.status, body = excluded.body,
        content_type = excluded.content_type, location = excluded.location,
        created_at = excluded.created_at, expires_at = excluded.expires_at
  where k.expires_at <= v_now;
end;
$$;

grant execute on function platform.idempotency_complete(text, text, text, integer, text, text, text, interval) to lockstep_api;

/*
 * platform.purge_idempotency_keys(limit) → integer: deletes up to `limit` expired keys (skipping rows
 * a running request holds) and returns how many. Run by the server's background purge.
 */
create or replace function platform.purge_idempotency_keys(p_limit integer)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_deleted integer;
begin
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
  select count(*)::integer into v_deleted from deleted;
  return v_deleted;
end;
$$;

grant execute on function platform.purge_idempotency_keys(integer) to lockstep_api;
