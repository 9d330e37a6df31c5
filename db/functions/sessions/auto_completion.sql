/*
 * sessions.due_bookings(p_limit) → setof (workspace_id, id): scheduled bookings whose end has passed,
 * oldest first. Server-only (auto-completion), not callable through /rest/v1/rpc.
 */
create or replace function sessions.due_bookings(p_limit integer)
returns table (workspace_id uuid, id uuid)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
  select b.workspace_id, b.id from sessions.bookings b
  where b.status = 'scheduled' and b.ends_at <= now()
  order by b.ends_at, b.id
  limit p_limit;
end;
$$;

grant execute on function sessions.due_bookings(integer) to lockstep_api;

/*
 * sessions.complete_due_booking(p_workspace_id, p_booking_id) → boolean: completes one due booking in
 * the caller's transaction (one transaction per booking). SKIP LOCKED: a booking another server
 * instance is completing right now is left to it (false); the finish re-checks the status under the
 * lock, so two passes at once never consume twice. Server-only.
 */
create or replace function sessions.complete_due_booking(p_workspace_id uuid, p_booking_id uuid)
returns boolean
language plpgsql
security definer
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

grant execute on function sessions.complete_due_booking(uuid, uuid) to lockstep_api;
