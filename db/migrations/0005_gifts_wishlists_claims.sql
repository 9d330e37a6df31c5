-- Gifts: a gift group is a workspace. A member (the celebrant) keeps wishlists; the other members claim
-- items alone (full) or split them; pledges add up to the item's total exactly, a pledge once made cannot
-- be deleted, and the celebrant never learns who gives what. Notifications are written by triggers in the
-- same transaction as the claim that causes them and announced with NOTIFY for the live stream.

create schema if not exists gifts;

create table gifts.wishlists (
  workspace_id uuid not null references platform.workspaces (id),
  id uuid not null default gen_random_uuid(),
  celebrant_id uuid not null,
  title text not null check (length(btrim(title)) between 1 and 200),
  created_at timestamptz not null default now(),
  primary key (workspace_id, id)
);

create table gifts.wishlist_items (
  workspace_id uuid not null references platform.workspaces (id),
  id uuid not null default gen_random_uuid(),
  wishlist_id uuid not null,
  title text not null check (length(btrim(title)) between 1 and 200),
  price numeric(12, 2) not null constraint wishlist_items_price_positive check (price > 0),
  additional_costs numeric(12, 2) not null default 0
    constraint wishlist_items_additional_costs_nonnegative check (additional_costs >= 0),
  link text check (link is null or length(link) <= 2000),
  notes text check (notes is null or length(notes) <= 2000),
  created_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, wishlist_id) references gifts.wishlists (workspace_id, id)
);

create index wishlist_items_wishlist_idx on gifts.wishlist_items (workspace_id, wishlist_id);

-- One row per member and item. is_claimer marks the member who claimed the item (a full claim, or the
-- organiser of a split); the other split rows are contributors' pledges.
create table gifts.gift_claims (
  workspace_id uuid not null references platform.workspaces (id),
  id uuid not null default gen_random_uuid(),
  item_id uuid not null,
  claimer_id uuid not null,
  claim_type text not null check (claim_type in ('full', 'split')),
  amount numeric(12, 2) not null default 0 constraint gift_claims_amount_nonnegative check (amount >= 0),
  is_claimer boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, item_id) references gifts.wishlist_items (workspace_id, id),
  constraint gift_claims_one_per_member unique (workspace_id, item_id, claimer_id),
  constraint gift_claims_full_is_claimer check (claim_type = 'split' or is_claimer)
);

create unique index gift_claims_one_claimer_per_item on gifts.gift_claims (workspace_id, item_id) where is_claimer;

-- seq is the event id of the live stream: a reconnecting client replays `where seq > Last-Event-ID`.
create table gifts.notifications (
  workspace_id uuid not null references platform.workspaces (id),
  id uuid not null default gen_random_uuid(),
  seq bigint generated always as identity,
  recipient_id uuid not null,
  type text not null check (type in ('item_claimed', 'split_invite', 'split_fully_funded', 'split_canceled')),
  data jsonb not null,
  created_at timestamptz not null default now(),
  read_at timestamptz,
  primary key (workspace_id, id)
);

create index notifications_recipient_seq_idx on gifts.notifications (recipient_id, seq);
create index notifications_unread_idx on gifts.notifications (recipient_id, seq) where read_at is null;

/*
 * gifts.locate_item(item) → the item's workspace and celebrant, read without a lock, so that the caller
 * can check membership and then lock the row filtered by its workspace.
 */
create or replace function gifts.locate_item(p_item_id uuid, out workspace_id uuid, out celebrant_id uuid)
language sql
stable
set search_path = ''
as $$
  select i.workspace_id, w.celebrant_id
  from gifts.wishlist_items i
  join gifts.wishlists w on w.workspace_id = i.workspace_id and w.id = i.wishlist_id
  where i.id = p_item_id
$$;

/*
 * gifts.member_name(workspace, user) → the member's display name, or null.
 */
create or replace function gifts.member_name(p_workspace_id uuid, p_user_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
  select m.display_name from platform.members m where m.workspace_id = p_workspace_id and m.user_id = p_user_id
$$;

/*
 * gifts.valid_money(amount) → true when the amount has at most two decimals and fits numeric(12,2):
 * money is never rounded silently.
 */
create or replace function gifts.valid_money(p_amount numeric)
returns boolean
language sql
immutable
set search_path = ''
as $$
  select p_amount is not null and p_amount = round(p_amount, 2) and abs(p_amount) < 10000000000
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
begin
  select i.title, w.celebrant_id into v_item
  from gifts.wishlist_items i
  join gifts.wishlists w on w.workspace_id = i.workspace_id and w.id = i.wishlist_id
  where i.workspace_id = p_workspace_id and i.id = p_item_id;

  insert into gifts.notifications (workspace_id, recipient_id, type, data)
  select p_workspace_id, m.user_id, p_type, jsonb_build_object(
           'type', p_type, 'item_id', p_item_id, 'item_title', v_item.title,
           'claimer_id', p_claimer_id, 'claimer_name', gifts.member_name(p_workspace_id, p_claimer_id))
  from platform.members m
  where m.workspace_id = p_workspace_id
    and m.user_id <> v_item.celebrant_id
    and m.user_id <> all (p_except);
end;
$$;

/*
 * Trigger notify_item_claimed: a full claim tells the group (not the celebrant, not the claimer).
 */
create or replace function gifts.notify_item_claimed()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform gifts.notify_members(new.workspace_id, new.item_id, 'item_claimed', new.claimer_id, array[new.claimer_id]);
  return null;
end;
$$;

create trigger notify_item_claimed
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

create trigger notify_split_invite
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
set search_path = ''
as $$
declare
  v_total numeric;
  v_sum numeric;
  v_before numeric;
  v_title text;
  v_claimer uuid;
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

  insert into gifts.notifications (workspace_id, recipient_id, type, data)
  select new.workspace_id, c.claimer_id, 'split_fully_funded', jsonb_build_object(
           'type', 'split_fully_funded', 'item_id', new.item_id, 'item_title', v_title,
           'claimer_id', v_claimer, 'claimer_name', gifts.member_name(new.workspace_id, v_claimer))
  from gifts.gift_claims c
  where c.workspace_id = new.workspace_id and c.item_id = new.item_id and c.claim_type = 'split';
  return null;
end;
$$;

create trigger notify_split_fully_funded_insert
  after insert on gifts.gift_claims
  for each row when (new.claim_type = 'split')
  execute function gifts.notify_split_fully_funded();

create trigger notify_split_fully_funded_update
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
set search_path = ''
as $$
begin
  perform gifts.notify_members(old.workspace_id, old.item_id, 'split_canceled', old.claimer_id, array[old.claimer_id]);
  return null;
end;
$$;

create trigger notify_split_canceled
  after delete on gifts.gift_claims
  for each row when (old.claim_type = 'split' and old.is_claimer)
  execute function gifts.notify_split_canceled();

/*
 * Trigger enforce_pledge_immutability: a contributor's pledge is never deleted, by any writer. Only the
 * claimer's own row may go (unclaim, or turning a full claim into a split).
 */
create or replace function gifts.enforce_pledge_immutability()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not old.is_claimer then
    raise exception 'A pledge cannot be deleted (item %, member %)', old.item_id, old.claimer_id
      using errcode = '23001', constraint = 'pledge_immutable';
  end if;
  return old;
end;
$$;

create trigger enforce_pledge_immutability
  before delete on gifts.gift_claims
  for each row
  execute function gifts.enforce_pledge_immutability();

/*
 * Every new notification is announced on channel lockstep_notifications (delivered at commit) with
 * {seq, id, recipient_id, workspace_id}; the server's one listener wakes the recipient's streams, which
 * read the rows themselves.
 */
create or replace function gifts.announce_notification()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('lockstep_notifications', json_build_object(
    'seq', new.seq, 'id', new.id, 'recipient_id', new.recipient_id, 'workspace_id', new.workspace_id)::text);
  return null;
end;
$$;

create trigger announce_notification
  after insert on gifts.notifications
  for each row
  execute function gifts.announce_notification();

/*
 * create_wishlist(p_workspace_id, p_title) → {success, wishlist_id}: the caller is the celebrant.
 * Refusals: not_authenticated, workspace_not_found, wishlist_title_required, wishlist_title_too_long.
 */
create or replace function public.create_wishlist(p_workspace_id uuid, p_title text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_id uuid;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to create a wishlist');
  end if;
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_title is null or length(btrim(p_title)) = 0 then
    return platform.refusal('wishlist_title_required', 'A wishlist needs a title');
  end if;
  if length(btrim(p_title)) > 200 then
    return platform.refusal('wishlist_title_too_long', 'A wishlist title has at most 200 characters');
  end if;
  insert into gifts.wishlists (workspace_id, celebrant_id, title)
  values (p_workspace_id, v_user, btrim(p_title))
  returning id into v_id;
  return jsonb_build_object('success', true, 'wishlist_id', v_id);
end;
$$;

grant execute on function public.create_wishlist(uuid, text) to public;

/*
 * add_wishlist_item(p_wishlist_id, p_title, p_price, p_link, p_notes) → {success, item_id}: the
 * celebrant only. Refusals: not_authenticated, wishlist_not_found, celebrant_only_forbidden,
 * item_title_required, item_title_too_long, invalid_price (not > 0 or more than two decimals),
 * link_too_long, notes_too_long.
 */
create or replace function public.add_wishlist_item(
  p_wishlist_id uuid, p_title text, p_price numeric, p_link text default null, p_notes text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_wishlist record;
  v_id uuid;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to add an item');
  end if;
  select w.workspace_id, w.celebrant_id into v_wishlist from gifts.wishlists w where w.id = p_wishlist_id;
  if v_wishlist.workspace_id is null or platform.member_role(v_wishlist.workspace_id, v_user) is null then
    return platform.refusal('wishlist_not_found', 'Wishlist not found');
  end if;
  if v_wishlist.celebrant_id <> v_user then
    return platform.refusal('celebrant_only_forbidden', 'Only the celebrant adds items to their wishlist');
  end if;
  if p_title is null or length(btrim(p_title)) = 0 then
    return platform.refusal('item_title_required', 'An item needs a title');
  end if;
  if length(btrim(p_title)) > 200 then
    return platform.refusal('item_title_too_long', 'An item title has at most 200 characters');
  end if;
  if not gifts.valid_money(p_price) or p_price <= 0 then
    return platform.refusal('invalid_price', 'A price is more than zero with at most two decimals');
  end if;
  if length(p_link) > 2000 then
    return platform.refusal('link_too_long', 'A link has at most 2000 characters');
  end if;
  if length(p_notes) > 2000 then
    return platform.refusal('notes_too_long', 'Notes have at most 2000 characters');
  end if;
  insert into gifts.wishlist_items (workspace_id, wishlist_id, title, price, link, notes)
  values (v_wishlist.workspace_id, p_wishlist_id, btrim(p_title), p_price, nullif(btrim(p_link), ''), nullif(btrim(p_notes), ''))
  returning id into v_id;
  return jsonb_build_object('success', true, 'item_id', v_id);
end;
$$;

grant execute on function public.add_wishlist_item(uuid, text, numeric, text, text) to public;

/*
 * list_wishlists(p_workspace_id) → {success, wishlists: [{wishlist_id, title, celebrant_id,
 * celebrant_name, item_count, created_at}]}. Refusals: workspace_not_found.
 */
create or replace function public.list_wishlists(p_workspace_id uuid)
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
  return jsonb_build_object('success', true, 'wishlists', (
    select coalesce(jsonb_agg(jsonb_build_object(
             'wishlist_id', w.id, 'title', w.title, 'celebrant_id', w.celebrant_id,
             'celebrant_name', gifts.member_name(w.workspace_id, w.celebrant_id),
             'item_count', (select count(*) from gifts.wishlist_items i
                            where i.workspace_id = w.workspace_id and i.wishlist_id = w.id),
             'created_at', w.created_at) order by w.created_at, w.id), '[]'::jsonb)
    from gifts.wishlists w where w.workspace_id = p_workspace_id));
end;
$$;

grant execute on function public.list_wishlists(uuid) to public;

/*
 * get_wishlist(p_wishlist_id) → {success, wishlist_id, workspace_id, title, celebrant_id,
 * celebrant_name, is_celebrant, items: [...]}. Every item has item_id, title, price, link, notes,
 * created_at. For the celebrant that is all: no claim state, no additional costs, nothing that tells a
 * claim or split apart. For everyone else an item also has additional_costs, total, claim_state
 * (unclaimed | claimed | split_open | fully_funded), claimer_id, claimer_name, pledged, remaining.
 * Refusals: wishlist_not_found.
 */
create or replace function public.get_wishlist(p_wishlist_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_wishlist gifts.wishlists;
  v_celebrant boolean;
begin
  select * into v_wishlist from gifts.wishlists w where w.id = p_wishlist_id;
  if v_wishlist.id is null or platform.member_role(v_wishlist.workspace_id, v_user) is null then
    return platform.refusal('wishlist_not_found', 'Wishlist not found');
  end if;
  v_celebrant := v_wishlist.celebrant_id = v_user;
  return jsonb_build_object(
    'success', true, 'wishlist_id', v_wishlist.id, 'workspace_id', v_wishlist.workspace_id,
    'title', v_wishlist.title, 'celebrant_id', v_wishlist.celebrant_id,
    'celebrant_name', gifts.member_name(v_wishlist.workspace_id, v_wishlist.celebrant_id),
    'is_celebrant', v_celebrant,
    'items', (
      select coalesce(jsonb_agg(
        case when v_celebrant then base
        else base || jsonb_build_object(
          'additional_costs', i.additional_costs,
          'total', i.price + i.additional_costs,
          'claim_state', case
            when s.claimer_id is null then 'unclaimed'
            when s.claim_type = 'full' then 'claimed'
            when s.pledged >= i.price + i.additional_costs then 'fully_funded'
            else 'split_open' end,
          'claimer_id', s.claimer_id,
          'claimer_name', gifts.member_name(i.workspace_id, s.claimer_id),
          'pledged', coalesce(s.pledged, 0),
          'remaining', case when s.claim_type = 'split' then i.price + i.additional_costs - s.pledged end)
        end order by i.created_at, i.id), '[]'::jsonb)
      from gifts.wishlist_items i
      cross join lateral (select jsonb_build_object(
        'item_id', i.id, 'title', i.title, 'price', i.price, 'link', i.link, 'notes', i.notes,
        'created_at', i.created_at) as base) b
      left join lateral (
        select c.claimer_id, c.claim_type,
               (select coalesce(sum(a.amount), 0) from gifts.gift_claims a
                where a.workspace_id = i.workspace_id and a.item_id = i.id and a.claim_type = 'split') as pledged
        from gifts.gift_claims c
        where c.workspace_id = i.workspace_id and c.item_id = i.id and c.is_claimer) s on true
      where i.workspace_id = v_wishlist.workspace_id and i.wishlist_id = v_wishlist.id));
end;
$$;

grant execute on function public.get_wishlist(uuid) to public;

/*
 * claim_item(p_item_id) → {success, claim_id, item_id, claim_type: 'full', amount}: claims the whole
 * item. Refusals: not_authenticated, item_not_found (also for outsiders), celebrant_forbidden,
 * item_already_claimed.
 */
create or replace function public.claim_item(p_item_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_item record;
  v_claim_id uuid;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to claim an item');
  end if;
  select * into v_item from gifts.locate_item(p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'You cannot claim an item on your own wishlist');
  end if;
  perform 1 from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id for update;
  if exists (select 1 from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id) then
    return platform.refusal('item_already_claimed', 'This item is already claimed');
  end if;
  insert into gifts.gift_claims (workspace_id, item_id, claimer_id, claim_type, amount, is_claimer)
  select i.workspace_id, i.id, v_user, 'full', i.price + i.additional_costs, true
  from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id
  returning id into v_claim_id;
  return jsonb_build_object('success', true, 'claim_id', v_claim_id, 'item_id', p_item_id, 'claim_type', 'full');
end;
$$;

grant execute on function public.claim_item(uuid) to public;

/*
 * unclaim_item(p_item_id) → {success, item_id}: the claimer withdraws a full claim or an open split.
 * Refusals: not_authenticated, item_not_found, celebrant_forbidden, item_not_claimed, claimer_only_forbidden,
 * has_contributions ("Cannot unclaim: item has contributions from other members").
 */
create or replace function public.unclaim_item(p_item_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_item record;
  v_claimer uuid;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to unclaim an item');
  end if;
  select * into v_item from gifts.locate_item(p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  -- Refused before any claim state is read: a different answer would tell the celebrant it is claimed.
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'The celebrant cannot change claims on their own items');
  end if;
  perform 1 from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id for update;
  select c.claimer_id into v_claimer
  from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id and c.is_claimer;
  if v_claimer is null then
    return platform.refusal('item_not_claimed', 'This item is not claimed');
  end if;
  if v_claimer <> v_user then
    return platform.refusal('claimer_only_forbidden', 'Only the member who claimed this item can unclaim it');
  end if;
  if exists (select 1 from gifts.gift_claims c
             where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id and not c.is_claimer) then
    return platform.refusal('has_contributions', 'Cannot unclaim: item has contributions from other members');
  end if;
  delete from gifts.gift_claims c
  where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id and c.claimer_id = v_user;
  return jsonb_build_object('success', true, 'item_id', p_item_id);
end;
$$;

grant execute on function public.unclaim_item(uuid) to public;

/*
 * open_split(p_item_id, p_additional_costs) → {success, item_id, total, additional_costs}: the holder
 * of the full claim turns it into a split (their amount becomes 0; they cover what is left when closing)
 * and adds shipping or delivery costs to the total. The full claim is replaced by a split row, which is
 * what invites the group (notify_split_invite).
 * Refusals: not_authenticated, item_not_found, celebrant_forbidden, invalid_additional_costs, item_not_claimed,
 * claimer_only_forbidden, split_already_open.
 */
create or replace function public.open_split(p_item_id uuid, p_additional_costs numeric default 0)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_item record;
  v_claim gifts.gift_claims;
  v_costs numeric := coalesce(p_additional_costs, 0);
  v_total numeric;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to open a split');
  end if;
  select * into v_item from gifts.locate_item(p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  -- Refused before any claim state is read: a different answer would tell the celebrant it is claimed.
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'The celebrant cannot change claims on their own items');
  end if;
  if not gifts.valid_money(v_costs) or v_costs < 0 then
    return platform.refusal('invalid_additional_costs', 'Additional costs are zero or more with at most two decimals');
  end if;
  perform 1 from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id for update;
  select * into v_claim
  from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id and c.is_claimer;
  if v_claim.id is null then
    return platform.refusal('item_not_claimed', 'Claim the item before opening a split');
  end if;
  if v_claim.claimer_id <> v_user then
    return platform.refusal('claimer_only_forbidden', 'Only the member who claimed this item can open a split');
  end if;
  if v_claim.claim_type = 'split' then
    return platform.refusal('split_already_open', 'This item is already split');
  end if;

  update gifts.wishlist_items i set additional_costs = v_costs
  where i.workspace_id = v_item.workspace_id and i.id = p_item_id
  returning i.price + i.additional_costs into v_total;
  delete from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.id = v_claim.id;
  insert into gifts.gift_claims (workspace_id, item_id, claimer_id, claim_type, amount, is_claimer, created_at)
  values (v_item.workspace_id, p_item_id, v_user, 'split', 0, true, v_claim.created_at);
  return jsonb_build_object('success', true, 'item_id', p_item_id, 'total', v_total, 'additional_costs', v_costs);
end;
$$;

grant execute on function public.open_split(uuid, numeric) to public;

/*
 * pledge_contribution(p_item_id, p_amount) → {success, claim_id, item_id, amount, total, pledged,
 * remaining}: a member pledges part of an open split, once. The item row is locked, so concurrent
 * pledges are serialised and never add up to more than the total.
 * Refusals: not_authenticated, invalid_amount (not > 0 or more than two decimals), item_not_found,
 * celebrant_forbidden, split_not_open, split_fully_funded, already_pledged (the claimer included: they
 * cover the rest by closing), amount_exceeds_remaining.
 */
create or replace function public.pledge_contribution(p_item_id uuid, p_amount numeric)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_item record;
  v_total numeric;
  v_pledged numeric;
  v_claim_id uuid;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to pledge');
  end if;
  select * into v_item from gifts.locate_item(p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'You cannot pledge towards an item on your own wishlist');
  end if;
  if not gifts.valid_money(p_amount) or p_amount <= 0 then
    return platform.refusal('invalid_amount', 'A pledge is more than zero with at most two decimals');
  end if;
  select i.price + i.additional_costs into v_total
  from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id for update;
  if not exists (select 1 from gifts.gift_claims c
                 where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id
                   and c.is_claimer and c.claim_type = 'split') then
    return platform.refusal('split_not_open', 'This item is not open for split contributions');
  end if;
  select coalesce(sum(c.amount), 0) into v_pledged
  from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id;
  if v_pledged >= v_total then
    return platform.refusal('split_fully_funded', 'This item is already fully funded');
  end if;
  if exists (select 1 from gifts.gift_claims c
             where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id and c.claimer_id = v_user) then
    return platform.refusal('already_pledged', 'You already take part in this split');
  end if;
  if p_amount > v_total - v_pledged then
    return platform.refusal('amount_exceeds_remaining',
      format('The pledge is more than the %s still needed', v_total - v_pledged));
  end if;

  begin
    insert into gifts.gift_claims (workspace_id, item_id, claimer_id, claim_type, amount, is_claimer)
    values (v_item.workspace_id, p_item_id, v_user, 'split', p_amount, false)
    returning id into v_claim_id;
  exception when unique_violation then
    -- Unreachable while the item row is locked above; kept as the safety net the rule asks for.
    return platform.refusal('already_pledged', 'You already take part in this split');
  end;
  return jsonb_build_object('success', true, 'claim_id', v_claim_id, 'item_id', p_item_id, 'amount', p_amount,
    'total', v_total, 'pledged', v_pledged + p_amount, 'remaining', v_total - v_pledged - p_amount);
end;
$$;

grant execute on function public.pledge_contribution(uuid, numeric) to public;

/*
 * close_split(p_item_id) → {success, item_id, total, claimer_amount, pledged, remaining: 0}: the
 * original claimer covers what is left; the item is then fully funded. Closing a split the pledges
 * already filled changes nothing and succeeds.
 * Refusals: not_authenticated, item_not_found, celebrant_forbidden, split_not_open, claimer_only_forbidden.
 */
create or replace function public.close_split(p_item_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_item record;
  v_total numeric;
  v_pledged numeric;
  v_claim gifts.gift_claims;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to close a split');
  end if;
  select * into v_item from gifts.locate_item(p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  -- Refused before any claim state is read: a different answer would tell the celebrant it is claimed.
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'The celebrant cannot change claims on their own items');
  end if;
  select i.price + i.additional_costs into v_total
  from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id for update;
  select * into v_claim from gifts.gift_claims c
  where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id and c.is_claimer and c.claim_type = 'split';
  if v_claim.id is null then
    return platform.refusal('split_not_open', 'This item has no split to close');
  end if;
  if v_claim.claimer_id <> v_user then
    return platform.refusal('claimer_only_forbidden', 'Only the member who opened the split can close it');
  end if;
  select coalesce(sum(c.amount), 0) into v_pledged
  from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id;
  if v_pledged < v_total then
    update gifts.gift_claims c set amount = c.amount + (v_total - v_pledged), updated_at = now()
    where c.workspace_id = v_item.workspace_id and c.id = v_claim.id
    returning c.amount into v_claim.amount;
  end if;
  return jsonb_build_object('success', true, 'item_id', p_item_id, 'total', v_total,
    'claimer_amount', v_claim.amount, 'pledged', v_total, 'remaining', 0);
end;
$$;

grant execute on function public.close_split(uuid) to public;

/*
 * get_split_status(p_item_id) → {success, item_id, item_title, price, additional_costs, total,
 * pledged, remaining, is_fully_funded, claimer_id, claimer_name, contributors: [{user_id,
 * display_name, amount, is_claimer}]}. Refusals: not_authenticated, item_not_found,
 * celebrant_forbidden (the celebrant never sees who gives what), split_not_open.
 */
create or replace function public.get_split_status(p_item_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_item record;
  v_row gifts.wishlist_items;
  v_pledged numeric;
  v_claimer uuid;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to see a split');
  end if;
  select * into v_item from gifts.locate_item(p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'The celebrant cannot see who gives what');
  end if;
  select c.claimer_id into v_claimer from gifts.gift_claims c
  where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id and c.is_claimer and c.claim_type = 'split';
  if v_claimer is null then
    return platform.refusal('split_not_open', 'This item is not split');
  end if;
  select * into v_row from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id;
  select coalesce(sum(c.amount), 0) into v_pledged
  from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id;
  return jsonb_build_object('success', true, 'item_id', p_item_id, 'item_title', v_row.title,
    'price', v_row.price, 'additional_costs', v_row.additional_costs, 'total', v_row.price + v_row.additional_costs,
    'pledged', v_pledged, 'remaining', v_row.price + v_row.additional_costs - v_pledged,
    'is_fully_funded', v_pledged >= v_row.price + v_row.additional_costs,
    'claimer_id', v_claimer, 'claimer_name', gifts.member_name(v_item.workspace_id, v_claimer),
    'contributors', (
      select coalesce(jsonb_agg(jsonb_build_object(
               'user_id', c.claimer_id, 'display_name', gifts.member_name(c.workspace_id, c.claimer_id),
               'amount', c.amount, 'is_claimer', c.is_claimer)
               order by c.is_claimer desc, c.created_at, c.claimer_id), '[]'::jsonb)
      from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id));
end;
$$;

grant execute on function public.get_split_status(uuid) to public;

/*
 * get_suggested_share(p_item_id) → {success, item_id, remaining, participants, share, remainder_cents,
 * shares: [{user_id, display_name, amount, is_claimer}]}: what is left, divided equally among the
 * claimer and every member who can still pledge (not the celebrant, not those who already pledged).
 * share is the remainder divided by participants, rounded down to the cent; the first remainder_cents
 * participants of `shares` (the claimer first, then members by when they joined) get one cent more, so
 * the amounts in `shares` add up to `remaining` exactly. A suggestion only: any amount up to the
 * remainder may be pledged.
 * Refusals: not_authenticated, item_not_found, celebrant_forbidden, split_not_open.
 */
create or replace function public.get_suggested_share(p_item_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_item record;
  v_total numeric;
  v_remaining_cents bigint;
  v_claimer uuid;
  v_people uuid[];
  v_n int;
  v_base bigint;
  v_extra int;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to see a suggested share');
  end if;
  select * into v_item from gifts.locate_item(p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'The celebrant cannot see who gives what');
  end if;
  select c.claimer_id into v_claimer from gifts.gift_claims c
  where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id and c.is_claimer and c.claim_type = 'split';
  if v_claimer is null then
    return platform.refusal('split_not_open', 'This item is not split');
  end if;
  select i.price + i.additional_costs into v_total
  from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id;
  select ((v_total - coalesce(sum(c.amount), 0)) * 100)::bigint into v_remaining_cents
  from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id;

  v_people := array[v_claimer] || array(
    select m.user_id from platform.members m
    where m.workspace_id = v_item.workspace_id and m.user_id <> v_item.celebrant_id
      and not exists (select 1 from gifts.gift_claims c
                      where c.workspace_id = m.workspace_id and c.item_id = p_item_id and c.claimer_id = m.user_id)
    order by m.created_at, m.user_id);
  v_n := cardinality(v_people);
  v_base := v_remaining_cents / v_n;
  v_extra := (v_remaining_cents % v_n)::int;

  return jsonb_build_object('success', true, 'item_id', p_item_id,
    'remaining', round(v_remaining_cents / 100.0, 2), 'participants', v_n,
    'share', round(v_base / 100.0, 2), 'remainder_cents', v_extra,
    'shares', (
      select jsonb_agg(jsonb_build_object(
               'user_id', p.user_id, 'display_name', gifts.member_name(v_item.workspace_id, p.user_id),
               'amount', round((v_base + case when p.ord <= v_extra then 1 else 0 end) / 100.0, 2),
               'is_claimer', p.user_id = v_claimer) order by p.ord)
      from unnest(v_people) with ordinality as p(user_id, ord)));
end;
$$;

grant execute on function public.get_suggested_share(uuid) to public;

/*
 * list_notifications(p_unread_only, p_limit, p_before_seq) → {success, notifications: [{id, seq,
 * workspace_id, type, data, created_at, read_at}], next_before_seq}: the caller's notifications,
 * newest first, p_limit (1..200) at a time; pass next_before_seq back for the next page (null at the end).
 * Refusals: not_authenticated, invalid_limit.
 */
create or replace function public.list_notifications(
  p_unread_only boolean default false, p_limit integer default 50, p_before_seq bigint default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_page jsonb;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to see notifications');
  end if;
  if p_limit is null or p_limit < 1 or p_limit > 200 then
    return platform.refusal('invalid_limit', 'A page holds 1 to 200 notifications');
  end if;
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', n.id, 'seq', n.seq, 'workspace_id', n.workspace_id, 'type', n.type, 'data', n.data,
           'created_at', n.created_at, 'read_at', n.read_at) order by n.seq desc), '[]'::jsonb)
  into v_page
  from (select * from gifts.notifications n
        where n.recipient_id = v_user
          and (not coalesce(p_unread_only, false) or n.read_at is null)
          and (p_before_seq is null or n.seq < p_before_seq)
        order by n.seq desc
        limit p_limit) n;
  return jsonb_build_object('success', true, 'notifications', v_page,
    'next_before_seq', case when jsonb_array_length(v_page) = p_limit
                            then (v_page -> (p_limit - 1) ->> 'seq')::bigint end);
end;
$$;

grant execute on function public.list_notifications(boolean, integer, bigint) to public;

/*
 * notifications_since(p_after_seq, p_limit) → {success, notifications: [...]}: the caller's
 * notifications with seq > p_after_seq, oldest first (the live stream's catch-up and replay).
 * Refusals: not_authenticated.
 */
create or replace function public.notifications_since(p_after_seq bigint, p_limit integer default 100)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to see notifications');
  end if;
  return jsonb_build_object('success', true, 'notifications', (
    select coalesce(jsonb_agg(jsonb_build_object(
             'id', n.id, 'seq', n.seq, 'workspace_id', n.workspace_id, 'type', n.type, 'data', n.data,
             'created_at', n.created_at, 'read_at', n.read_at) order by n.seq), '[]'::jsonb)
    from (select * from gifts.notifications n
          where n.recipient_id = v_user and n.seq > coalesce(p_after_seq, 0)
          order by n.seq
          limit least(greatest(coalesce(p_limit, 100), 1), 500)) n));
end;
$$;

grant execute on function public.notifications_since(bigint, integer) to public;

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

grant execute on function public.mark_notification_read(uuid) to public;

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

grant execute on function public.mark_all_notifications_read() to public;
