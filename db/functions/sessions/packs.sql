/*
 * sessions.purchase_json(p_purchase) → jsonb: a pack as the API shows it, with its balance, from to_jsonb
 * of its row. It takes jsonb, not the row: a function of a table's row type is not propagated to Citus
 * workers.
 */
create or replace function sessions.purchase_json(p_purchase jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'purchase_id', p_purchase -> 'id', 'workspace_id', p_purchase -> 'workspace_id', 'client_id', p_purchase -> 'client_id',
    'sessions_total', p_purchase -> 'sessions_total', 'sessions_used', p_purchase -> 'sessions_used',
    'sessions_left', (p_purchase ->> 'sessions_total')::integer - (p_purchase ->> 'sessions_used')::integer,
    'price', p_purchase -> 'price', 'purchased_at', p_purchase -> 'purchased_at', 'expires_at', p_purchase -> 'expires_at',
    'expired', coalesce((p_purchase ->> 'expires_at')::timestamptz <= now(), false))
$$;

/*
 * sessions.client_workspace(client_id) → uuid: the workspace of a client when the caller is a member
 * of it, else null (unknown and invisible look the same).
 */
create or replace function sessions.client_workspace(p_client_id uuid)
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_workspace_id uuid;
begin
  select c.workspace_id into v_workspace_id from crm.clients c
  where c.id = p_client_id
    and exists (select 1 from platform.members m where m.workspace_id = c.workspace_id and m.user_id = v_user);
  return v_workspace_id;
end;
$$;

/*
 * sessions.purchase_workspace(purchase_id) → uuid: the pack's workspace when the caller is a member, else null.
 */
create or replace function sessions.purchase_workspace(p_purchase_id uuid)
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_workspace_id uuid;
begin
  select p.workspace_id into v_workspace_id from sessions.purchases p
  where p.id = p_purchase_id
    and exists (select 1 from platform.members m where m.workspace_id = p.workspace_id and m.user_id = v_user);
  return v_workspace_id;
end;
$$;

/*
 * sessions.client_in_workspace(workspace, client) → boolean: true when the client is in that workspace
 * and the caller is a member of it (unknown, another workspace's and invisible look the same).
 */
create or replace function sessions.client_in_workspace(p_workspace_id uuid, p_client_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  return exists (
    select 1 from crm.clients c
    where c.workspace_id = p_workspace_id and c.id = p_client_id
      and exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = v_user));
end;
$$;

/*
 * use_session(p_workspace_id, p_purchase_id) → boolean: consumes one session of the pack. True when one
 * was consumed; false when none was left, the pack expired, or the pack is unknown, in another workspace
 * or not the caller's workspace's. One conditional update, no prior select: under concurrency PostgreSQL
 * re-checks the condition on the latest row version, so 200 callers on a 10-session pack get exactly 10
 * trues. The workspace first: Citus routes the call to the workspace's node.
 */
create or replace function public.use_session(p_workspace_id uuid, p_purchase_id uuid)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  update sessions.purchases p
  set sessions_used = p.sessions_used + 1
  where p.workspace_id = p_workspace_id and p.id = p_purchase_id
    and p.sessions_used < p.sessions_total
    and (p.expires_at is null or p.expires_at > now())
    and exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = v_user);
  return found;
end;
$$;

grant execute on function public.use_session(uuid, uuid) to lockstep_api;

/*
 * use_session(p_purchase_id) → boolean: the seed's form of use_session(p_workspace_id, p_purchase_id),
 * the same answer; the pack's workspace is looked up first (on Citus, across every shard).
 */
create or replace function public.use_session(p_purchase_id uuid)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.use_session(sessions.purchase_workspace(p_purchase_id), p_purchase_id);
end;
$$;

grant execute on function public.use_session(uuid) to lockstep_api;

/*
 * consume_session(p_workspace_id, p_purchase_id) → {success, purchase}: use_session with its reason when
 * it refuses (the /api form). The same single conditional update; only a refusal reads the row
 * afterwards to say why. Refusals: purchase_not_found (also for non-members and another workspace's
 * pack), pack_expired, sessions_exhausted.
 */
create or replace function public.consume_session(p_workspace_id uuid, p_purchase_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_purchase sessions.purchases;
begin
  update sessions.purchases p
  set sessions_used = p.sessions_used + 1
  where p.workspace_id = p_workspace_id and p.id = p_purchase_id
    and p.sessions_used < p.sessions_total
    and (p.expires_at is null or p.expires_at > now())
    and exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = v_user)
  returning p.* into v_purchase;
  if found then
    return jsonb_build_object('success', true, 'purchase', sessions.purchase_json(to_jsonb(v_purchase)));
  end if;

  select p.* into v_purchase from sessions.purchases p
  where p.workspace_id = p_workspace_id and p.id = p_purchase_id
    and exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = v_user);
  if not found then
    return platform.refusal('purchase_not_found', 'Session pack not found');
  end if;
  if v_purchase.expires_at <= now() then
    return platform.refusal('pack_expired', 'This session pack has expired');
  end if;
  return platform.refusal('sessions_exhausted', 'No sessions left on this pack');
end;
$$;

grant execute on function public.consume_session(uuid, uuid) to lockstep_api;

/*
 * consume_session(p_purchase_id) → {success, purchase}: the seed's form of
 * consume_session(p_workspace_id, p_purchase_id), the pack's workspace looked up first.
 */
create or replace function public.consume_session(p_purchase_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.consume_session(sessions.purchase_workspace(p_purchase_id), p_purchase_id);
end;
$$;

grant execute on function public.consume_session(uuid) to lockstep_api;

/*
 * reinstate_session(p_workspace_id, p_purchase_id) → {success, purchase}: gives one used session back,
 * in one conditional update that never goes below 0. Refusals: purchase_not_found (also for non-members
 * and another workspace's pack), no_session_to_release (nothing used).
 */
create or replace function public.reinstate_session(p_workspace_id uuid, p_purchase_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_purchase sessions.purchases;
begin
  update sessions.purchases p
  set sessions_used = p.sessions_used - 1
  where p.workspace_id = p_workspace_id and p.id = p_purchase_id
    and p.sessions_used > 0
    and exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = v_user)
  returning p.* into v_purchase;
  if found then
    return jsonb_build_object('success', true, 'purchase', sessions.purchase_json(to_jsonb(v_purchase)));
  end if;
  if not exists (select 1 from sessions.purchases p
                 where p.workspace_id = p_workspace_id and p.id = p_purchase_id
                   and exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = v_user)) then
    return platform.refusal('purchase_not_found', 'Session pack not found');
  end if;
  return platform.refusal('no_session_to_release', 'No used session to give back on this pack');
end;
$$;

grant execute on function public.reinstate_session(uuid, uuid) to lockstep_api;

/*
 * reinstate_session(p_purchase_id) → {success, purchase}: the seed's form of
 * reinstate_session(p_workspace_id, p_purchase_id), the pack's workspace looked up first.
 */
create or replace function public.reinstate_session(p_purchase_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.reinstate_session(sessions.purchase_workspace(p_purchase_id), p_purchase_id);
end;
$$;

grant execute on function public.reinstate_session(uuid) to lockstep_api;

/*
 * release_session(p_workspace_id, p_purchase_id) → integer: gives one used session back and returns the
 * new sessions_used from the database (the client sets its state from it). It never goes below 0.
 * Returns an integer (the seed's contract), so it refuses by raising SQLSTATE P0001 (PostgREST: 400)
 * with the stable code as the hint and as the constraint name (the /api mapping: 422):
 *   no_session_to_release — nothing used on this pack;
 *   purchase_not_found    — unknown, in another workspace, or not in the caller's workspace.
 */
create or replace function public.release_session(p_workspace_id uuid, p_purchase_id uuid)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_result jsonb := public.reinstate_session(p_workspace_id, p_purchase_id);
begin
  if (v_result ->> 'success')::boolean then
    return (v_result -> 'purchase' ->> 'sessions_used')::integer;
  end if;
  raise exception using
    errcode = 'P0001',
    message = v_result ->> 'error',
    hint = v_result ->> 'code',
    constraint = v_result ->> 'code';
end;
$$;

grant execute on function public.release_session(uuid, uuid) to lockstep_api;

/*
 * release_session(p_purchase_id) → integer: the seed's form of release_session(p_workspace_id,
 * p_purchase_id), the same answer and refusals; the pack's workspace looked up first.
 */
create or replace function public.release_session(p_purchase_id uuid)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.release_session(sessions.purchase_workspace(p_purchase_id), p_purchase_id);
end;
$$;

grant execute on function public.release_session(uuid) to lockstep_api;

/*
 * create_purchase(p_workspace_id, p_client_id, p_sessions_total, p_price, p_expires_at) → {success,
 * purchase_id}: sells a pack of sessions to a client; the price is optional. Refusals: client_not_found
 * (also for non-members and another workspace's client), invalid_sessions_total (1 to 10000),
 * invalid_price (negative, or more than two decimals: never rounded), amount_too_large (more than
 * 9999999999.99), expires_in_past.
 */
create or replace function public.create_purchase(
  p_workspace_id uuid,
  p_client_id uuid,
  p_sessions_total integer,
  p_price numeric default null,
  p_expires_at timestamptz default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_purchase_id uuid;
  v_refusal jsonb := platform.money_refusal(p_price, 'invalid_price', 'A price has at most two decimals');
begin
  if not sessions.client_in_workspace(p_workspace_id, p_client_id) then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  if p_sessions_total is null or p_sessions_total < 1 or p_sessions_total > 10000 then
    return platform.refusal('invalid_sessions_total', 'A pack holds 1 to 10000 sessions');
  end if;
  if v_refusal is not null then
    return v_refusal;
  end if;
  if p_price < 0 then
    return platform.refusal('invalid_price', 'A price is not negative');
  end if;
  if p_expires_at <= now() then
    return platform.refusal('expires_in_past', 'A new pack cannot expire in the past');
  end if;

  insert into sessions.purchases (workspace_id, client_id, sessions_total, price, expires_at, created_by)
  values (p_workspace_id, p_client_id, p_sessions_total, p_price, p_expires_at, v_user)
  returning id into v_purchase_id;

  return jsonb_build_object('success', true, 'purchase_id', v_purchase_id);
end;
$$;

grant execute on function public.create_purchase(uuid, uuid, integer, numeric, timestamptz) to lockstep_api;

/*
 * create_purchase(p_client_id, p_sessions_total, p_price, p_expires_at) → {success, purchase_id}: the
 * seed's form of create_purchase(p_workspace_id, ...), the client's workspace looked up first.
 */
create or replace function public.create_purchase(
  p_client_id uuid,
  p_sessions_total integer,
  p_price numeric default null,
  p_expires_at timestamptz default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.create_purchase(sessions.client_workspace(p_client_id), p_client_id, p_sessions_total, p_price, p_expires_at);
end;
$$;

grant execute on function public.create_purchase(uuid, integer, numeric, timestamptz) to lockstep_api;

/*
 * get_purchase(p_workspace_id, p_purchase_id) → {success, purchase}: a pack with its balance.
 * Refusals: purchase_not_found (also for non-members and another workspace's pack).
 */
create or replace function public.get_purchase(p_workspace_id uuid, p_purchase_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_purchase sessions.purchases;
begin
  select p.* into v_purchase from sessions.purchases p
  where p.workspace_id = p_workspace_id and p.id = p_purchase_id
    and exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = v_user);
  if not found then
    return platform.refusal('purchase_not_found', 'Session pack not found');
  end if;
  return jsonb_build_object('success', true, 'purchase', sessions.purchase_json(to_jsonb(v_purchase)));
end;
$$;

grant execute on function public.get_purchase(uuid, uuid) to lockstep_api;

/*
 * get_purchase(p_purchase_id) → {success, purchase}: the seed's form of get_purchase(p_workspace_id,
 * p_purchase_id), the pack's workspace looked up first.
 */
create or replace function public.get_purchase(p_purchase_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return public.get_purchase(sessions.purchase_workspace(p_purchase_id), p_purchase_id);
end;
$$;

grant execute on function public.get_purchase(uuid) to lockstep_api;

/*
 * list_client_purchases(p_workspace_id, p_client_id, p_limit, p_before) → {success, purchases,
 * next_before}: a client's packs, newest first, p_limit (1..200) at a time
 * (db/functions/platform/paging.sql). Refusals: client_not_found (also for non-members and another
 * workspace's client), invalid_limit, invalid_cursor.
 */
create or replace function public.list_client_purchases(
  p_workspace_id uuid, p_client_id uuid, p_limit integer default 50, p_before text default null)
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
  if not sessions.client_in_workspace(p_workspace_id, p_client_id) then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  select k.at, k.id into v_before_at, v_before_id from platform.page_key_uuid(p_before) k;
  v_refusal := platform.page_refusal(p_limit, p_before, v_before_at);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return (
    select jsonb_build_object('success', true,
             'purchases', coalesce(jsonb_agg(sessions.purchase_json(to_jsonb(r.purchase)) order by r.n)
                                   filter (where r.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor((r.purchase).purchased_at, (r.purchase).id::text)) filter (where r.n = p_limit) end)
    from (
      select p as purchase, row_number() over (order by p.purchased_at desc, p.id desc) as n
      from sessions.purchases p
      where p.workspace_id = p_workspace_id and p.client_id = p_client_id
        and (p.purchased_at, p.id) < (v_before_at, v_before_id)
      order by p.purchased_at desc, p.id desc
      limit p_limit + 1) r);
end;
$$;

grant execute on function public.list_client_purchases(uuid, uuid, integer, text) to lockstep_api;

/*
 * list_client_purchases(p_client_id, p_limit, p_before) → {success, purchases, next_before}: the seed's
 * form of list_client_purchases(p_workspace_id, ...), the client's workspace looked up first.
 */
create or replace function public.list_client_purchases(p_client_id uuid, p_limit integer default 50, p_before text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return public.list_client_purchases(sessions.client_workspace(p_client_id), p_client_id, p_limit, p_before);
end;
$$;

grant execute on function public.list_client_purchases(uuid, integer, text) to lockstep_api;
