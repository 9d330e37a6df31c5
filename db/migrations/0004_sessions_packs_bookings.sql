-- Sessions: session packs (purchases) and bookings; race-free use and reinstate of a session,
-- completion that consumes a session exactly once, and server-only auto-completion of past bookings.
--
-- A counter moves only in one conditional update ... returning: two tabs using the last session at
-- once get one true and one false, never sessions_used past sessions_total (the CHECK is the backstop).

create schema if not exists sessions;

create table sessions.purchases (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  client_id uuid not null,
  sessions_total integer not null constraint purchases_sessions_total_positive check (sessions_total > 0),
  sessions_used integer not null default 0,
  price numeric(12, 2) constraint purchases_price_not_negative check (price >= 0),
  purchased_at timestamptz not null default now(),
  expires_at timestamptz,
  created_by uuid,
  primary key (workspace_id, id),
  foreign key (workspace_id, client_id) references crm.clients (workspace_id, id) on delete cascade,
  -- Lets a booking's foreign key say "a pack of this same client".
  constraint purchases_client_pack unique (workspace_id, client_id, id),
  constraint purchases_sessions_used_range check (sessions_used between 0 and sessions_total)
);

-- The seed's functions find a pack by its id alone.
create index purchases_id_idx on sessions.purchases (id);

create table sessions.bookings (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  client_id uuid not null,
  purchase_id uuid,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  status text not null default 'scheduled'
    constraint bookings_status_valid check (status in ('scheduled', 'completed', 'cancelled', 'no_show')),
  session_consumed boolean not null default false,
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, client_id) references crm.clients (workspace_id, id) on delete cascade,
  -- A booking draws on a pack of its own client (null purchase_id: no pack, nothing checked).
  constraint bookings_purchase_of_client foreign key (workspace_id, client_id, purchase_id)
    references sessions.purchases (workspace_id, client_id, id),
  constraint bookings_time_order check (starts_at < ends_at),
  constraint bookings_consumed_needs_purchase check (not session_consumed or purchase_id is not null)
);

create index bookings_id_idx on sessions.bookings (id);
create index bookings_client_idx on sessions.bookings (workspace_id, client_id, starts_at);
create index bookings_calendar_idx on sessions.bookings (workspace_id, starts_at);
create index bookings_purchase_idx on sessions.bookings (workspace_id, purchase_id) where purchase_id is not null;
-- Auto-completion scans only what is still scheduled.
create index bookings_due_idx on sessions.bookings (ends_at) where status = 'scheduled';

/*
 * sessions.purchase_json(purchase) → jsonb: a pack as the API shows it, with its balance.
 */
create or replace function sessions.purchase_json(p sessions.purchases)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'purchase_id', p.id, 'workspace_id', p.workspace_id, 'client_id', p.client_id,
    'sessions_total', p.sessions_total, 'sessions_used', p.sessions_used,
    'sessions_left', p.sessions_total - p.sessions_used, 'price', p.price,
    'purchased_at', p.purchased_at, 'expires_at', p.expires_at,
    'expired', coalesce(p.expires_at <= now(), false))
$$;

/*
 * sessions.booking_json(booking) → jsonb: a booking as the API shows it.
 */
create or replace function sessions.booking_json(b sessions.bookings)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'booking_id', b.id, 'workspace_id', b.workspace_id, 'client_id', b.client_id, 'purchase_id', b.purchase_id,
    'starts_at', b.starts_at, 'ends_at', b.ends_at, 'status', b.status, 'session_consumed', b.session_consumed)
$$;

/*
 * sessions.client_workspace(client_id) → uuid: the workspace of a client when the caller is a member
 * of it, else null (unknown and invisible look the same).
 */
create or replace function sessions.client_workspace(p_client_id uuid)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
  select c.workspace_id from crm.clients c
  where c.id = p_client_id and platform.member_role(c.workspace_id, auth.uid()) is not null
$$;

/*
 * sessions.purchase_workspace(purchase_id) → uuid: the pack's workspace when the caller is a member, else null.
 */
create or replace function sessions.purchase_workspace(p_purchase_id uuid)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
  select p.workspace_id from sessions.purchases p
  where p.id = p_purchase_id and platform.member_role(p.workspace_id, auth.uid()) is not null
$$;

/*
 * sessions.booking_workspace(booking_id) → uuid: the booking's workspace when the caller is a member, else null.
 */
create or replace function sessions.booking_workspace(p_booking_id uuid)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
  select b.workspace_id from sessions.bookings b
  where b.id = p_booking_id and platform.member_role(b.workspace_id, auth.uid()) is not null
$$;

/*
 * use_session(p_purchase_id) → boolean: consumes one session of the pack. True when one was consumed;
 * false when none was left, the pack expired, or the pack is unknown or not the caller's workspace's.
 * One conditional update, no prior select: under concurrency PostgreSQL re-checks the condition on
 * the latest row version, so 200 callers on a 10-session pack get exactly 10 trues.
 */
create or replace function public.use_session(p_purchase_id uuid)
returns boolean
language sql
security definer
set search_path = ''
as $$
  with used as (
    update sessions.purchases p
    set sessions_used = p.sessions_used + 1
    where p.id = p_purchase_id
      and p.sessions_used < p.sessions_total
      and (p.expires_at is null or p.expires_at > now())
      and exists (select 1 from platform.members m where m.workspace_id = p.workspace_id and m.user_id = auth.uid())
    returning true
  )
  select coalesce((select true from used), false)
$$;

grant execute on function public.use_session(uuid) to public;

/*
 * consume_session(p_purchase_id) → {success, purchase}: use_session with its reason when it refuses
 * (the /api form). The same single conditional update; only a refusal reads the row afterwards to
 * say why. Refusals: purchase_not_found (also for non-members), pack_expired, sessions_exhausted.
 */
create or replace function public.consume_session(p_purchase_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_purchase sessions.purchases;
begin
  update sessions.purchases p
  set sessions_used = p.sessions_used + 1
  where p.id = p_purchase_id
    and p.sessions_used < p.sessions_total
    and (p.expires_at is null or p.expires_at > now())
    and exists (select 1 from platform.members m where m.workspace_id = p.workspace_id and m.user_id = auth.uid())
  returning p.* into v_purchase;
  if found then
    return jsonb_build_object('success', true, 'purchase', sessions.purchase_json(v_purchase));
  end if;

  select p.* into v_purchase from sessions.purchases p
  where p.id = p_purchase_id and p.workspace_id = sessions.purchase_workspace(p_purchase_id);
  if not found then
    return platform.refusal('purchase_not_found', 'Session pack not found');
  end if;
  if v_purchase.expires_at <= now() then
    return platform.refusal('pack_expired', 'This session pack has expired');
  end if;
  return platform.refusal('sessions_exhausted', 'No sessions left on this pack');
end;
$$;

grant execute on function public.consume_session(uuid) to public;

/*
 * reinstate_session(p_purchase_id) → {success, purchase}: gives one used session back, in one
 * conditional update that never goes below 0. Refusals: purchase_not_found (also for non-members),
 * no_session_to_release (nothing used).
 */
create or replace function public.reinstate_session(p_purchase_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_purchase sessions.purchases;
begin
  update sessions.purchases p
  set sessions_used = p.sessions_used - 1
  where p.id = p_purchase_id
    and p.sessions_used > 0
    and exists (select 1 from platform.members m where m.workspace_id = p.workspace_id and m.user_id = auth.uid())
  returning p.* into v_purchase;
  if found then
    return jsonb_build_object('success', true, 'purchase', sessions.purchase_json(v_purchase));
  end if;
  if sessions.purchase_workspace(p_purchase_id) is null then
    return platform.refusal('purchase_not_found', 'Session pack not found');
  end if;
  return platform.refusal('no_session_to_release', 'No used session to give back on this pack');
end;
$$;

grant execute on function public.reinstate_session(uuid) to public;

/*
 * release_session(p_purchase_id) → integer: gives one used session back and returns the new
 * sessions_used from the database (the client sets its state from it). It never goes below 0.
 * Returns an integer (the seed's contract), so it refuses by raising SQLSTATE P0001 (PostgREST: 400)
 * with the stable code as the hint and as the constraint name (the /api mapping: 422):
 *   no_session_to_release — nothing used on this pack;
 *   purchase_not_found    — unknown, or not in the caller's workspace.
 */
create or replace function public.release_session(p_purchase_id uuid)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_result jsonb := public.reinstate_session(p_purchase_id);
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

grant execute on function public.release_session(uuid) to public;

/*
 * create_purchase(p_client_id, p_sessions_total, p_price, p_expires_at) → {success, purchase_id}:
 * sells a pack of sessions to a client. Refusals: client_not_found (also for non-members),
 * invalid_sessions_total (1 to 10000), invalid_price (negative), expires_in_past.
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
declare
  v_workspace_id uuid := sessions.client_workspace(p_client_id);
  v_purchase_id uuid;
begin
  if v_workspace_id is null then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  if p_sessions_total is null or p_sessions_total < 1 or p_sessions_total > 10000 then
    return platform.refusal('invalid_sessions_total', 'A pack holds 1 to 10000 sessions');
  end if;
  if p_price < 0 or p_price >= 10000000000 then
    return platform.refusal('invalid_price', 'A price is between 0 and 9999999999.99');
  end if;
  if p_expires_at <= now() then
    return platform.refusal('expires_in_past', 'A new pack cannot expire in the past');
  end if;

  insert into sessions.purchases (workspace_id, client_id, sessions_total, price, expires_at, created_by)
  values (v_workspace_id, p_client_id, p_sessions_total, round(p_price, 2), p_expires_at, auth.uid())
  returning id into v_purchase_id;

  return jsonb_build_object('success', true, 'purchase_id', v_purchase_id);
end;
$$;

grant execute on function public.create_purchase(uuid, integer, numeric, timestamptz) to public;

/*
 * get_purchase(p_purchase_id) → {success, purchase}: a pack with its balance.
 * Refusals: purchase_not_found (also for non-members).
 */
create or replace function public.get_purchase(p_purchase_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_purchase sessions.purchases;
begin
  select p.* into v_purchase from sessions.purchases p
  where p.id = p_purchase_id and p.workspace_id = sessions.purchase_workspace(p_purchase_id);
  if not found then
    return platform.refusal('purchase_not_found', 'Session pack not found');
  end if;
  return jsonb_build_object('success', true, 'purchase', sessions.purchase_json(v_purchase));
end;
$$;

grant execute on function public.get_purchase(uuid) to public;

/*
 * list_client_purchases(p_client_id) → {success, purchases}: a client's packs, newest first.
 * Refusals: client_not_found (also for non-members).
 */
create or replace function public.list_client_purchases(p_client_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := sessions.client_workspace(p_client_id);
begin
  if v_workspace_id is null then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  return jsonb_build_object('success', true, 'purchases', (
    select coalesce(jsonb_agg(sessions.purchase_json(p) order by p.purchased_at desc, p.id), '[]'::jsonb)
    from sessions.purchases p
    where p.workspace_id = v_workspace_id and p.client_id = p_client_id));
end;
$$;

grant execute on function public.list_client_purchases(uuid) to public;

/*
 * create_booking(p_client_id, p_starts_at, p_ends_at, p_purchase_id) → {success, booking_id}:
 * books a client, optionally against one of the client's packs (a session is consumed on completion).
 * Refusals: client_not_found, booking_times_required, invalid_booking_times (start not before end),
 * purchase_not_found (not a pack of this client).
 */
create or replace function public.create_booking(
  p_client_id uuid,
  p_starts_at timestamptz,
  p_ends_at timestamptz,
  p_purchase_id uuid default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := sessions.client_workspace(p_client_id);
  v_booking_id uuid;
begin
  if v_workspace_id is null then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  if p_starts_at is null or p_ends_at is null then
    return platform.refusal('booking_times_required', 'A booking needs a start and an end');
  end if;
  if p_starts_at >= p_ends_at then
    return platform.refusal('invalid_booking_times', 'A booking starts before it ends');
  end if;
  if p_purchase_id is not null and not exists (
    select 1 from sessions.purchases p
    where p.workspace_id = v_workspace_id and p.id = p_purchase_id and p.client_id = p_client_id
  ) then
    return platform.refusal('purchase_not_found', 'Session pack not found for this client');
  end if;

  insert into sessions.bookings (workspace_id, client_id, purchase_id, starts_at, ends_at, created_by)
  values (v_workspace_id, p_client_id, p_purchase_id, p_starts_at, p_ends_at, auth.uid())
  returning id into v_booking_id;

  return jsonb_build_object('success', true, 'booking_id', v_booking_id);
end;
$$;

grant execute on function public.create_booking(uuid, timestamptz, timestamptz, uuid) to public;

/*
 * list_client_bookings(p_client_id) → {success, bookings}: a client's bookings by start time.
 * Refusals: client_not_found (also for non-members).
 */
create or replace function public.list_client_bookings(p_client_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := sessions.client_workspace(p_client_id);
begin
  if v_workspace_id is null then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  return jsonb_build_object('success', true, 'bookings', (
    select coalesce(jsonb_agg(sessions.booking_json(b) order by b.starts_at, b.id), '[]'::jsonb)
    from sessions.bookings b
    where b.workspace_id = v_workspace_id and b.client_id = p_client_id));
end;
$$;

grant execute on function public.list_client_bookings(uuid) to public;

/*
 * sessions.finish_booking(workspace, booking, status) → jsonb: marks a scheduled booking completed or
 * no_show and consumes one session of its pack, exactly once. The booking row is locked first, so
 * concurrent finishers queue on it and the later ones see it finished; the session moves in one
 * conditional update. Already in that status → success with already = true, nothing consumed again.
 * A pack with no session left (or expired) still lets the booking finish, with session_consumed false.
 * Internal: callers check membership (or are the server). Refusals: booking_not_found, booking_not_scheduled.
 */
create or replace function sessions.finish_booking(p_workspace_id uuid, p_booking_id uuid, p_status text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_booking sessions.bookings;
  v_consumed boolean := false;
begin
  select b.* into v_booking from sessions.bookings b
  where b.workspace_id = p_workspace_id and b.id = p_booking_id
  for update;
  if not found then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  if v_booking.status = p_status then
    return jsonb_build_object('success', true, 'already', true, 'booking', sessions.booking_json(v_booking));
  end if;
  if v_booking.status <> 'scheduled' then
    return platform.refusal('booking_not_scheduled', format('This booking is %s, not scheduled', replace(v_booking.status, '_', '-')));
  end if;

  if v_booking.purchase_id is not null and not v_booking.session_consumed then
    update sessions.purchases p
    set sessions_used = p.sessions_used + 1
    where p.workspace_id = p_workspace_id and p.id = v_booking.purchase_id
      and p.sessions_used < p.sessions_total
      and (p.expires_at is null or p.expires_at > now());
    v_consumed := found;
  end if;

  update sessions.bookings b
  set status = p_status, session_consumed = b.session_consumed or v_consumed, updated_at = now()
  where b.workspace_id = p_workspace_id and b.id = p_booking_id
  returning b.* into v_booking;

  return jsonb_build_object('success', true, 'already', false, 'booking', sessions.booking_json(v_booking));
end;
$$;

/*
 * complete_booking(p_booking_id) → {success, already, booking}: marks a booking completed and consumes
 * one session of its pack exactly once (completing twice, or concurrently, consumes one).
 * Refusals: booking_not_found (also for non-members), booking_not_scheduled (cancelled or no-show).
 */
create or replace function public.complete_booking(p_booking_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := sessions.booking_workspace(p_booking_id);
begin
  if v_workspace_id is null then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  return sessions.finish_booking(v_workspace_id, p_booking_id, 'completed');
end;
$$;

grant execute on function public.complete_booking(uuid) to public;

/*
 * mark_no_show(p_booking_id) → {success, already, booking}: the client did not come; the session of its
 * pack is forfeited (consumed once, like completion; cancel_booking with p_reinstate gives it back).
 * Refusals: booking_not_found (also for non-members), booking_not_scheduled.
 */
create or replace function public.mark_no_show(p_booking_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := sessions.booking_workspace(p_booking_id);
begin
  if v_workspace_id is null then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  return sessions.finish_booking(v_workspace_id, p_booking_id, 'no_show');
end;
$$;

grant execute on function public.mark_no_show(uuid) to public;

/*
 * cancel_booking(p_booking_id, p_reinstate) → {success, already, reinstated, booking}: cancels a booking
 * in any status. With p_reinstate, the session goes back to the pack only if this booking consumed it
 * (then session_consumed becomes false, so a second cancel gives nothing back). Without it, a consumed
 * session stays consumed (a late cancellation). Refusals: booking_not_found (also for non-members).
 */
create or replace function public.cancel_booking(p_booking_id uuid, p_reinstate boolean)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := sessions.booking_workspace(p_booking_id);
  v_booking sessions.bookings;
  v_reinstated boolean := false;
begin
  if v_workspace_id is null then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  select b.* into v_booking from sessions.bookings b
  where b.workspace_id = v_workspace_id and b.id = p_booking_id
  for update;
  if not found then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  if v_booking.status = 'cancelled' and not (coalesce(p_reinstate, false) and v_booking.session_consumed) then
    return jsonb_build_object('success', true, 'already', true, 'reinstated', false, 'booking', sessions.booking_json(v_booking));
  end if;

  if coalesce(p_reinstate, false) and v_booking.session_consumed then
    update sessions.purchases p
    set sessions_used = p.sessions_used - 1
    where p.workspace_id = v_workspace_id and p.id = v_booking.purchase_id and p.sessions_used > 0;
    v_reinstated := found;
  end if;

  update sessions.bookings b
  set status = 'cancelled',
      session_consumed = b.session_consumed and not coalesce(p_reinstate, false),
      updated_at = now()
  where b.workspace_id = v_workspace_id and b.id = p_booking_id
  returning b.* into v_booking;

  return jsonb_build_object('success', true, 'already', false, 'reinstated', v_reinstated, 'booking', sessions.booking_json(v_booking));
end;
$$;

grant execute on function public.cancel_booking(uuid, boolean) to public;

/*
 * booking_calendar(p_workspace_id, p_from, p_to) → {success, bookings}: bookings starting in [from, to),
 * with the client's name and the pack's balance. Refusals: workspace_not_found (also for non-members),
 * invalid_range (from not before to, or longer than 366 days).
 */
create or replace function public.booking_calendar(p_workspace_id uuid, p_from timestamptz, p_to timestamptz)
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
  if p_from is null or p_to is null or p_from >= p_to or p_to - p_from > interval '366 days' then
    return platform.refusal('invalid_range', 'A calendar range starts before it ends and spans at most 366 days');
  end if;
  return jsonb_build_object('success', true, 'bookings', (
    select coalesce(jsonb_agg(sessions.booking_json(b) || jsonb_build_object(
             'client_name', c.name,
             'sessions_total', p.sessions_total,
             'sessions_used', p.sessions_used,
             'sessions_left', p.sessions_total - p.sessions_used)
             order by b.starts_at, b.id), '[]'::jsonb)
    from sessions.bookings b
    join crm.clients c on c.workspace_id = b.workspace_id and c.id = b.client_id
    left join sessions.purchases p on p.workspace_id = b.workspace_id and p.id = b.purchase_id
    where b.workspace_id = p_workspace_id and b.starts_at >= p_from and b.starts_at < p_to));
end;
$$;

grant execute on function public.booking_calendar(uuid, timestamptz, timestamptz) to public;

/*
 * sessions.due_bookings(p_limit) → setof (workspace_id, id): scheduled bookings whose end has passed,
 * oldest first. Server-only (auto-completion), not callable through /rest/v1/rpc.
 */
create or replace function sessions.due_bookings(p_limit integer)
returns table (workspace_id uuid, id uuid)
language sql
stable
set search_path = ''
as $$
  select b.workspace_id, b.id from sessions.bookings b
  where b.status = 'scheduled' and b.ends_at <= now()
  order by b.ends_at, b.id
  limit p_limit
$$;

/*
 * sessions.complete_due_booking(p_workspace_id, p_booking_id) → boolean: completes one due booking in
 * the caller's transaction (one transaction per booking). SKIP LOCKED: a booking another server
 * instance is completing right now is left to it (false); the finish re-checks the status under the
 * lock, so two passes at once never consume twice. Server-only.
 */
create or replace function sessions.complete_due_booking(p_workspace_id uuid, p_booking_id uuid)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  perform 1 from sessions.bookings b
  where b.workspace_id = p_workspace_id and b.id = p_booking_id
    and b.status = 'scheduled' and b.ends_at <= now()
  for update skip locked;
  if not found then
    return false;
  end if;
  return not ((sessions.finish_booking(p_workspace_id, p_booking_id, 'completed') ->> 'already')::boolean);
end;
$$;

revoke execute on function sessions.due_bookings(integer) from public;
revoke execute on function sessions.complete_due_booking(uuid, uuid) from public;
revoke execute on function sessions.finish_booking(uuid, uuid, text) from public;
