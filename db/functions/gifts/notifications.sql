/*
 * gifts.add_notification(p_workspace_id, p_recipient_id, p_data) → void: one notification of type
 * p_data.type. A values insert, one row at a time: on Citus an insert ... select (the defaults are volatile)
 * is run through a coordinator, which a trigger on a shard may not do.
 */
create or replace function gifts.add_notification(p_workspace_id uuid, p_recipient_id uuid, p_data jsonb)
returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into gifts.notifications (workspace_id, recipient_id, type, data)
  values (p_workspace_id, p_recipient_id, p_data ->> 'type', p_data);
end;
$$;

/*
 * gifts.notify_members(...): one notification per member of the item's workspace except the celebrant
 * and the listed users (never the celebrant: they must not learn about claims on their own items).
 */
create or replace function gifts.notify_members(
  p_workspace_id uuid, p_item_id uuid, p_type text, p_claimer_id uuid, p_except uuid[])
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_item record;
  -- Read here, not inside the insert: a helper reading a distributed table may not run inside a shard query.
  v_claimer_name text := gifts.member_name(p_workspace_id, p_claimer_id);
  v_recipient uuid;
begin
  select i.title, w.celebrant_id into v_item
  from gifts.wishlist_items i
  join gifts.wishlists w on w.workspace_id = i.workspace_id and w.id = i.wishlist_id
  where i.workspace_id = p_workspace_id and i.id = p_item_id;

  -- Recipient order: each row locks its recipient's counter (take_recipient_seq), and two writers that
  -- lock the same counters in the same order cannot deadlock.
  for v_recipient in
    select m.user_id from platform.members m
    where m.workspace_id = p_workspace_id
      and m.user_id <> v_item.celebrant_id
      and m.user_id <> all (p_except)
    order by m.user_id
  loop
    perform gifts.add_notification(p_workspace_id, v_recipient, jsonb_build_object(
      'type', p_type, 'item_id', p_item_id, 'item_title', v_item.title,
      'claimer_id', p_claimer_id, 'claimer_name', v_claimer_name));
  end loop;
end;
$$;

/*
 * Trigger notify_item_claimed: a full claim tells the group (not the celebrant, not the claimer).
 */
create or replace function gifts.notify_item_claimed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform gifts.notify_members(new.workspace_id, new.item_id, 'item_claimed', new.claimer_id, array[new.claimer_id]);
  return null;
end;
$$;

create or replace trigger notify_item_claimed
  after insert on gifts.gift_claims
  for each row when (new.claim_type = 'full')
  execute function gifts.notify_item_claimed();

/*
 * Trigger notify_split_invite: the first split row of an item (the claimer opening the split) invites
 * the group to pledge (not the celebrant, not the claimer). Later pledges invite nobody.
 */
create or replace function gifts.notify_split_invite()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (
    select 1 from gifts.gift_claims c
    where c.workspace_id = new.workspace_id and c.item_id = new.item_id
      and c.claim_type = 'split' and c.id <> new.id) then
    return null;
  end if;
  perform gifts.notify_members(new.workspace_id, new.item_id, 'split_invite', new.claimer_id, array[new.claimer_id]);
  return null;
end;
$$;

create or replace trigger notify_split_invite
  after insert on gifts.gift_claims
  for each row when (new.claim_type = 'split')
  execute function gifts.notify_split_invite();

/*
 * Trigger notify_split_fully_funded: when a pledge (insert) or the claimer's closing amount (update)
 * brings the split's sum to the item's total, every contributor (claimer included) is told, once.
 */
create or replace function gifts.notify_split_fully_funded()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_total numeric;
  v_sum numeric;
  v_before numeric;
  v_title text;
  v_claimer uuid;
  v_claimer_name text;
  v_recipient uuid;
begin
  select i.price + i.additional_costs, i.title into v_total, v_title
  from gifts.wishlist_items i where i.workspace_id = new.workspace_id and i.id = new.item_id;
  select coalesce(sum(c.amount), 0) into v_sum
  from gifts.gift_claims c
  where c.workspace_id = new.workspace_id and c.item_id = new.item_id and c.claim_type = 'split';
  v_before := v_sum - new.amount + case when tg_op = 'UPDATE' and old.claim_type = 'split' then old.amount else 0 end;
  if v_sum <> v_total or v_before >= v_total then
    return null;
  end if;

  select c.claimer_id into v_claimer
  from gifts.gift_claims c
  where c.workspace_id = new.workspace_id and c.item_id = new.item_id and c.is_claimer;
  v_claimer_name := gifts.member_name(new.workspace_id, v_claimer);

  for v_recipient in
    select c.claimer_id from gifts.gift_claims c
    where c.workspace_id = new.workspace_id and c.item_id = new.item_id and c.claim_type = 'split'
    order by c.claimer_id
  loop
    perform gifts.add_notification(new.workspace_id, v_recipient, jsonb_build_object(
      'type', 'split_fully_funded', 'item_id', new.item_id, 'item_title', v_title,
      'claimer_id', v_claimer, 'claimer_name', v_claimer_name));
  end loop;
  return null;
end;
$$;

create or replace trigger notify_split_fully_funded_insert
  after insert on gifts.gift_claims
  for each row when (new.claim_type = 'split')
  execute function gifts.notify_split_fully_funded();

create or replace trigger notify_split_fully_funded_update
  after update of amount on gifts.gift_claims
  for each row when (new.claim_type = 'split' and new.amount is distinct from old.amount)
  execute function gifts.notify_split_fully_funded();

/*
 * Trigger notify_split_canceled: the claimer withdrawing an open split (possible only while nobody else
 * has pledged) tells the group (not the celebrant, not the claimer who canceled).
 */
create or replace function gifts.notify_split_canceled()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform gifts.notify_members(old.workspace_id, old.item_id, 'split_canceled', old.claimer_id, array[old.claimer_id]);
  return null;
end;
$$;

create or replace trigger notify_split_canceled
  after delete on gifts.gift_claims
  for each row when (old.claim_type = 'split' and old.is_claimer)
  execute function gifts.notify_split_canceled();

/*
 * Trigger take_recipient_seq: a new notification gets the next recipient_seq of its workspace and
 * recipient (1, 2, 3, …) from the counter row, which stays locked until the inserting transaction ends:
 * the next writer for that recipient waits, so a recipient_seq never becomes visible before a smaller
 * one of the same workspace and recipient, and a rolled-back one is taken again (no gaps). The live
 * stream resumes from these positions, one per workspace, so a commit can never land behind it.
 */
create or replace function gifts.take_recipient_seq()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into gifts.notification_counters as c (workspace_id, recipient_id, last_seq)
  values (new.workspace_id, new.recipient_id, 1)
  on conflict (workspace_id, recipient_id) do update set last_seq = c.last_seq + 1
  returning c.last_seq into new.recipient_seq;
  return new;
end;
$$;

create or replace trigger take_recipient_seq
  before insert on gifts.notifications
  for each row
  execute function gifts.take_recipient_seq();

/*
 * Every new notification is announced on channel lockstep_notifications (delivered at commit) with
 * {seq, recipient_seq, id, recipient_id, workspace_id}; the server's one listener wakes the recipient's streams, which
 * read the rows themselves. Not on Citus: there the insert runs on a worker, inside a transaction the
 * coordinator commits with two-phase commit, which refuses a NOTIFY (and a worker's NOTIFY would reach only
 * that worker's listeners). There the server's listener reads the recipients' notification_counters on the
 * coordinator instead (NotificationListener), and this trigger is dropped each time these definitions apply.
 */
create or replace function gifts.announce_notification()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_notify('lockstep_notifications', json_build_object(
    'seq', new.seq, 'recipient_seq', new.recipient_seq, 'id', new.id, 'recipient_id', new.recipient_id, 'workspace_id', new.workspace_id)::text);
  return null;
end;
$$;

do $$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'citus') then
    drop trigger if exists announce_notification on gifts.notifications;
  else
    create or replace trigger announce_notification
      after insert on gifts.notifications
      for each row
      execute function gifts.announce_notification();
  end if;
end;
$$;

/*
 * gifts.notification_totals(p_recipients) → setof (recipient_id, total): server only (the notification
 * listener on Citus). For each listed recipient with notifications, a number that grows with every
 * notification committed for them in any workspace (the sum of their counters' last_seq): the listener
 * wakes a recipient's streams when it changed since its last look.
 */
create or replace function gifts.notification_totals(p_recipients uuid[])
returns table (recipient_id uuid, total bigint)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
  select c.recipient_id, sum(c.last_seq)::bigint
  from gifts.notification_counters c
  where c.recipient_id = any (p_recipients)
  group by c.recipient_id;
end;
$$;

grant execute on function gifts.notification_totals(uuid[]) to lockstep_api;

/*
 * list_notifications(p_unread_only, p_limit, p_before) → {success, notifications: [{id, seq, recipient_seq,
 * workspace_id, type, data, created_at, read_at}], next_before}: the caller's notifications over all their
 * workspaces, newest first by (created_at, id), p_limit (1..200) at a time; pass next_before back as
 * p_before for the next page (null at the end; db/functions/platform/paging.sql). Not by seq: on Citus
 * each node takes seq from its own range, so seq says nothing about order across workspaces.
 * Refusals: not_authenticated, invalid_limit, invalid_cursor.
 */
create or replace function public.list_notifications(
  p_unread_only boolean default false, p_limit integer default 50, p_before text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_before_at timestamptz;
  v_before_id uuid;
  v_refusal jsonb;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to see notifications');
  end if;
  select k.at, k.id into v_before_at, v_before_id from platform.page_key_uuid(p_before) k;
  v_refusal := platform.page_refusal(p_limit, p_before, v_before_at);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return (
    select jsonb_build_object('success', true,
             'notifications', coalesce(jsonb_agg(jsonb_build_object(
               'id', n.id, 'seq', n.seq, 'recipient_seq', n.recipient_seq, 'workspace_id', n.workspace_id,
               'type', n.type, 'data', n.data, 'created_at', n.created_at, 'read_at', n.read_at)
               order by n.n) filter (where n.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor(n.created_at, n.id::text)) filter (where n.n = p_limit) end)
    from (
      select n.*, row_number() over (order by n.created_at desc, n.id desc) as n
      from (select n.* from gifts.notifications n
            where n.recipient_id = v_user
              and (not coalesce(p_unread_only, false) or n.read_at is null)
              and (n.created_at, n.id) < (v_before_at, v_before_id)
            order by n.created_at desc, n.id desc
            limit p_limit + 1) n) n);
end;
$$;

grant execute on function public.list_notifications(boolean, integer, text) to lockstep_api;

/*
 * gifts.notification_positions(p_recipient_id, p_cursor) → jsonb {"<workspace_id>": recipient_seq}: where
 * a cursor stands in each workspace in which the recipient has notifications (a workspace it does not
 * name stands at 0); null when p_cursor is neither form. A cursor is '' (nothing seen yet) or
 * <workspace_id>:<recipient_seq> pairs joined by commas, as notification_cursor and notifications_since
 * write it. An older, numeric event id (the global seq N of the last notification sent) stands in each
 * workspace just before its first notification with seq > N, so everything after N is sent again.
 */
create or replace function gifts.notification_positions(p_recipient_id uuid, p_cursor text)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_cursor text := coalesce(p_cursor, '');
  v_pair constant text := '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9]{1,18}';
begin
  if v_cursor ~ '^[0-9]{1,18}$' then
    return (select coalesce(jsonb_object_agg(p.workspace_id::text, p.position), '{}'::jsonb)
            from (select n.workspace_id,
                         coalesce(min(n.recipient_seq) filter (where n.seq > v_cursor::bigint) - 1, max(n.recipient_seq)) as position
                  from gifts.notifications n
                  where n.recipient_id = p_recipient_id
                  group by n.workspace_id) p
            where p.position > 0);
  end if;
  if length(v_cursor) > 20000 or v_cursor !~* ('^(' || v_pair || '(,' || v_pair || ')*)?$') then
    return null;
  end if;
  return (select coalesce(jsonb_object_agg(p.workspace_id::text, p.position), '{}'::jsonb)
          from (select split_part(pair, ':', 1)::uuid as workspace_id, max(split_part(pair, ':', 2)::bigint) as position
                from unnest(string_to_array(nullif(v_cursor, ''), ',')) as pair
                group by 1) p
          join gifts.notification_counters c on c.workspace_id = p.workspace_id and c.recipient_id = p_recipient_id
          where p.position > 0);
end;
$$;

/*
 * gifts.notification_cursor_text(p_positions) → text: the cursor for positions {"<workspace_id>": seq}:
 * <workspace_id>:<recipient_seq> pairs in workspace order joined by commas, positions 0 left out ('' for none).
 */
create or replace function gifts.notification_cursor_text(p_positions jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce(string_agg(p.key || ':' || p.value, ',' order by p.key collate "C"), '')
  from jsonb_each_text(p_positions) p
  where p.value::bigint > 0
$$;

/*
 * notification_cursor(p_last_event_id) → {success, cursor}: with null, the caller's cursor as of now
 * (the newest notification of each workspace): the live stream's start; otherwise p_last_event_id (a
 * cursor, or an older numeric event id) checked and written as a cursor.
 * Refusals: not_authenticated, invalid_cursor.
 */
create or replace function public.notification_cursor(p_last_event_id text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_positions jsonb;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to see notifications');
  end if;
  if p_last_event_id is null then
    select coalesce(jsonb_object_agg(c.workspace_id::text, c.last_seq), '{}'::jsonb) into v_positions
    from gifts.notification_counters c
    where c.recipient_id = v_user;
  else
    v_positions := gifts.notification_positions(v_user, p_last_event_id);
  end if;
  if v_positions is null then
    return platform.refusal('invalid_cursor', 'A cursor is workspace_id:recipient_seq pairs joined by commas, or an older numeric event id');
  end if;
  return jsonb_build_object('success', true, 'cursor', gifts.notification_cursor_text(v_positions));
end;
$$;

grant execute on function public.notification_cursor(text) to lockstep_api;

/*
 * notifications_since(p_cursor, p_limit) → {success, notifications: [{id, seq, recipient_seq,
 * workspace_id, type, data, created_at, read_at, cursor}], cursor}: the caller's notifications after
 * p_cursor ('' or null: all of them; an older numeric event id is accepted too), per workspace in
 * recipient_seq order and across workspaces about oldest first, p_limit (1..500, default 100) at a time.
 * Each notification's cursor is the position just after it (the live stream's event id); the last
 * cursor (p_cursor when nothing is new) is the one to pass back.
 * Refusals: not_authenticated, invalid_cursor.
 */
create or replace function public.notifications_since(p_cursor text, p_limit integer default 100)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_limit integer := least(greatest(coalesce(p_limit, 100), 1), 500);
  v_positions jsonb;
  v_page jsonb;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to see notifications');
  end if;
  v_positions := gifts.notification_positions(v_user, p_cursor);
  if v_positions is null then
    return platform.refusal('invalid_cursor', 'A cursor is workspace_id:recipient_seq pairs joined by commas, or an older numeric event id');
  end if;
  -- Rows of one workspace go in recipient_seq order, so a page cut by the limit never skips one; across
  -- workspaces by the latest created_at up to each row in its workspace.
  with candidates as (
    select n.*, max(n.created_at) over (partition by n.workspace_id order by n.recipient_seq) as settled_at
    from gifts.notification_counters c
    cross join lateral (
      select n.* from gifts.notifications n
      where n.workspace_id = c.workspace_id and n.recipient_id = v_user
        and n.recipient_seq > coalesce((v_positions ->> c.workspace_id::text)::bigint, 0)
      order by n.recipient_seq
      limit v_limit) n
    where c.recipient_id = v_user
  ),
  page as (
    select n.*, row_number() over (order by n.settled_at, n.workspace_id, n.recipient_seq) as k
    from candidates n
    order by n.settled_at, n.workspace_id, n.recipient_seq
    limit v_limit
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', p.id, 'seq', p.seq, 'recipient_seq', p.recipient_seq, 'workspace_id', p.workspace_id,
           'type', p.type, 'data', p.data, 'created_at', p.created_at, 'read_at', p.read_at,
           'cursor', gifts.notification_cursor_text(v_positions || (
             select jsonb_object_agg(s.workspace_id::text, s.recipient_seq)
             from (select q.workspace_id, max(q.recipient_seq) as recipient_seq
                   from page q where q.k <= p.k group by q.workspace_id) s))) order by p.k), '[]'::jsonb)
  into v_page
  from page p;
  return jsonb_build_object('success', true, 'notifications', v_page,
    'cursor', coalesce(v_page -> -1 ->> 'cursor', gifts.notification_cursor_text(v_positions)));
end;
$$;

grant execute on function public.notifications_since(text, integer) to lockstep_api;

/*
 * mark_notification_read(p_notification_id) → {success, notification_id, read_at}: idempotent.
 * Refusals: not_authenticated, notification_not_found (also someone else's).
 */
create or replace function public.mark_notification_read(p_notification_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_read_at timestamptz;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to read notifications');
  end if;
  update gifts.notifications n set read_at = coalesce(n.read_at, now())
  where n.id = p_notification_id and n.recipient_id = v_user
  returning n.read_at into v_read_at;
  if v_read_at is null then
    return platform.refusal('notification_not_found', 'Notification not found');
  end if;
  return jsonb_build_object('success', true, 'notification_id', p_notification_id, 'read_at', v_read_at);
end;
$$;

grant execute on function public.mark_notification_read(uuid) to lockstep_api;

/*
 * mark_all_notifications_read() → {success, marked}: every unread notification of the caller.
 * Refusals: not_authenticated.
 */
create or replace function public.mark_all_notifications_read()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_count integer;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to read notifications');
  end if;
  update gifts.notifications n set read_at = now() where n.recipient_id = v_user and n.read_at is null;
  get diagnostics v_count = row_count;
  return jsonb_build_object('success', true, 'marked', v_count);
end;
$$;

grant execute on function public.mark_all_notifications_read() to lockstep_api;
