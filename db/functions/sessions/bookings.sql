/*
 * sessions.booking_json(p_booking) → jsonb: a booking as the API shows it, from to_jsonb of its row. It
 * takes jsonb, not the row: a function of a table's row type is not propagated to Citus workers.
 */
create or replace function sessions.booking_json(p_booking jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'booking_id', p_booking -> 'id', 'workspace_id', p_booking -> 'workspace_id', 'client_id', p_booking -> 'client_id',
    'purchase_id', p_booking -> 'purchase_id', 'starts_at', p_booking -> 'starts_at', 'ends_at', p_booking -> 'ends_at',
    'status', p_booking -> 'status', 'session_consumed', p_booking -> 'session_consumed')
$$;

/*
 * sessions.booking_workspace(booking_id) → uuid: the booking's workspace when the caller is a member, else null.
 */
create or replace function sessions.booking_workspace(p_booking_id uuid)
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
  select b.workspace_id into v_workspace_id from sessions.bookings b
  where b.id = p_booking_id
    and exists (select 1 from platform.members m where m.workspace_id = b.workspace_id and m.user_id = v_user);
  return v_workspace_id;
end;
$$;

/*
 * create_booking(p_workspace_id, p_client_id, p_starts_at, p_ends_at, p_purchase_id) → {success,
 * booking_id}: books a client, optionally against one of the client's packs (a session is consumed on
 * completion). Refusals: client_not_found (also another workspace's client), booking_times_required,
 * invalid_booking_times (start not before end), purchase_not_found (not a pack of this client).
 */
create or replace function public.create_booking(
  p_workspace_id uuid,
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
  v_user uuid := auth.uid();
  v_booking_id uuid;
begin
  if not sessions.client_in_workspace(p_workspace_id, p_client_id) then
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
    where p.workspace_id = p_workspace_id and p.id = p_purchase_id and p.client_id = p_client_id
  ) then
    return platform.refusal('purchase_not_found', 'Session pack not found for this client');
  end if;

  insert into sessions.bookings (workspace_id, client_id, purchase_id, starts_at, ends_at, created_by)
  values (p_workspace_id, p_client_id, p_purchase_id, p_starts_at, p_ends_at, v_user)
  returning id into v_booking_id;

  return jsonb_build_object('success', true, 'booking_id', v_booking_id);
end;
$$;

grant execute on function public.create_booking(uuid, uuid, timestamptz, timestamptz, uuid) to lockstep_api;

/*
 * create_booking(p_client_id, p_starts_at, p_ends_at, p_purchase_id) → {success, booking_id}: the seed's
 * form of create_booking(p_workspace_id, ...), the client's workspace looked up first.
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
begin
  return public.create_booking(sessions.client_workspace(p_client_id), p_client_id, p_starts_at, p_ends_at, p_purchase_id);
end;
$$;

grant execute on function public.create_booking(uuid, timestamptz, timestamptz, uuid) to lockstep_api;

/*
 * list_client_bookings(p_workspace_id, p_client_id, p_limit, p_before) → {success, bookings,
 * next_before}: a client's bookings, the latest start first, p_limit (1..200) at a time
 * (db/functions/platform/paging.sql). Refusals: client_not_found (also for non-members and another
 * workspace's client), invalid_limit, invalid_cursor.
 */
create or replace function public.list_client_bookings(
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
             'bookings', coalesce(jsonb_agg(sessions.booking_json(to_jsonb(r.booking)) order by r.n)
                                  filter (where r.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor((r.booking).starts_at, (r.booking).id::text)) filter (where r.n = p_limit) end)
    from (
      select b as booking, row_number() over (order by b.starts_at desc, b.id desc) as n
      from sessions.bookings b
      where b.workspace_id = p_workspace_id and b.client_id = p_client_id
        and (b.starts_at, b.id) < (v_before_at, v_before_id)
      order by b.starts_at desc, b.id desc
      limit p_limit + 1) r);
end;
$$;

grant execute on function public.list_client_bookings(uuid, uuid, integer, text) to lockstep_api;

/*
 * list_client_bookings(p_client_id, p_limit, p_before) → {success, bookings, next_before}: the seed's form
 * of list_client_bookings(p_workspace_id, ...), the client's workspace looked up first.
 */
create or replace function public.list_client_bookings(p_client_id uuid, p_limit integer default 50, p_before text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return public.list_client_bookings(sessions.client_workspace(p_client_id), p_client_id, p_limit, p_before);
end;
$$;

grant execute on function public.list_client_bookings(uuid, integer, text) to lockstep_api;

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
    return jsonb_build_object('success', true, 'already', true, 'booking', sessions.booking_json(to_jsonb(v_booking)));
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

  return jsonb_build_object('success', true, 'already', false, 'booking', sessions.booking_json(to_jsonb(v_booking)));
end;
$$;

revoke execute on function sessions.finish_booking(uuid, uuid, text) from public;

/*
 * complete_booking(p_workspace_id, p_booking_id) → {success, already, booking}: marks a booking completed
 * and consumes one session of its pack exactly once (completing twice, or concurrently, consumes one).
 * Refusals: booking_not_found (also for non-members and another workspace's booking),
 * booking_not_scheduled (cancelled or no-show).
 */
create or replace function public.complete_booking(p_workspace_id uuid, p_booking_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  return sessions.finish_booking(p_workspace_id, p_booking_id, 'completed');
end;
$$;

grant execute on function public.complete_booking(uuid, uuid) to lockstep_api;

/*
 * complete_booking(p_booking_id) → {success, already, booking}: the seed's form of
 * complete_booking(p_workspace_id, p_booking_id), the booking's workspace looked up first.
 */
create or replace function public.complete_booking(p_booking_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.complete_booking(sessions.booking_workspace(p_booking_id), p_booking_id);
end;
$$;

grant execute on function public.complete_booking(uuid) to lockstep_api;

/*
 * mark_no_show(p_workspace_id, p_booking_id) → {success, already, booking}: the client did not come; the
 * session of its pack is forfeited (consumed once, like completion; cancel_booking with p_reinstate gives
 * it back). Refusals: booking_not_found (also for non-members and another workspace's booking),
 * booking_not_scheduled.
 */
create or replace function public.mark_no_show(p_workspace_id uuid, p_booking_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  return sessions.finish_booking(p_workspace_id, p_booking_id, 'no_show');
end;
$$;

grant execute on function public.mark_no_show(uuid, uuid) to lockstep_api;

/*
 * mark_no_show(p_booking_id) → {success, already, booking}: the seed's form of
 * mark_no_show(p_workspace_id, p_booking_id), the booking's workspace looked up first.
 */
create or replace function public.mark_no_show(p_booking_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.mark_no_show(sessions.booking_workspace(p_booking_id), p_booking_id);
end;
$$;

grant execute on function public.mark_no_show(uuid) to lockstep_api;

/*
 * cancel_booking(p_workspace_id, p_booking_id, p_reinstate) → {success, already, reinstated, booking}:
 * cancels a booking in any status. With p_reinstate, the session goes back to the pack only if this
 * booking consumed it (then session_consumed becomes false, so a second cancel gives nothing back).
 * Without it, a consumed session stays consumed (a late cancellation). Refusals: booking_not_found (also
 * for non-members and another workspace's booking).
 */
create or replace function public.cancel_booking(p_workspace_id uuid, p_booking_id uuid, p_reinstate boolean)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_booking sessions.bookings;
  v_reinstated boolean := false;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  select b.* into v_booking from sessions.bookings b
  where b.workspace_id = p_workspace_id and b.id = p_booking_id
  for update;
  if not found then
    return platform.refusal('booking_not_found', 'Booking not found');
  end if;
  if v_booking.status = 'cancelled' and not (coalesce(p_reinstate, false) and v_booking.session_consumed) then
    return jsonb_build_object('success', true, 'already', true, 'reinstated', false, 'booking', sessions.booking_json(to_jsonb(v_booking)));
  end if;

  if coalesce(p_reinstate, false) and v_booking.session_consumed then
    update sessions.purchases p
    set sessions_used = p.sessions_used - 1
    where p.workspace_id = p_workspace_id and p.id = v_booking.purchase_id and p.sessions_used > 0;
    v_reinstated := found;
  end if;

  update sessions.bookings b
  set status = 'cancelled',
      session_consumed = b.session_consumed and not coalesce(p_reinstate, false),
      updated_at = now()
  where b.workspace_id = p_workspace_id and b.id = p_booking_id
  returning b.* into v_booking;

  return jsonb_build_object('success', true, 'already', false, 'reinstated', v_reinstated, 'booking', sessions.booking_json(to_jsonb(v_booking)));
end;
$$;

grant execute on function public.cancel_booking(uuid, uuid, boolean) to lockstep_api;

/*
 * cancel_booking(p_booking_id, p_reinstate) → {success, already, reinstated, booking}: the seed's form of
 * cancel_booking(p_workspace_id, p_booking_id, p_reinstate), the booking's workspace looked up first.
 */
create or replace function public.cancel_booking(p_booking_id uuid, p_reinstate boolean)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.cancel_booking(sessions.booking_workspace(p_booking_id), p_booking_id, p_reinstate);
end;
$$;

grant execute on function public.cancel_booking(uuid, boolean) to lockstep_api;

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
declare
  v_user uuid := auth.uid();
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_from is null or p_to is null or p_from >= p_to or p_to - p_from > interval '366 days' then
    return platform.refusal('invalid_range', 'A calendar range starts before it ends and spans at most 366 days');
  end if;
  return jsonb_build_object('success', true, 'bookings', (
    select coalesce(jsonb_agg(sessions.booking_json(to_jsonb(b)) || jsonb_build_object(
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

grant execute on function public.booking_calendar(uuid, timestamptz, timestamptz) to lockstep_api;
