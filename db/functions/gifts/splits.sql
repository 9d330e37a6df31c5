/*
 * Trigger enforce_pledge_immutability: a contributor's pledge is never deleted, by any writer. Only the
 * claimer's own row may go (unclaim, or turning a full claim into a split).
 */
create or replace function gifts.enforce_pledge_immutability()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not old.is_claimer then
    raise exception 'A pledge cannot be deleted (item %, member %; constraint "pledge_immutable")', old.item_id, old.claimer_id
      using errcode = '23001', constraint = 'pledge_immutable';
  end if;
  return old;
end;
$$;

create or replace trigger enforce_pledge_immutability
  before delete on gifts.gift_claims
  for each row
  execute function gifts.enforce_pledge_immutability();

/*
 * open_split(p_workspace_id, p_item_id, p_additional_costs) → {success, item_id, total, additional_costs}: the holder
 * of the full claim turns it into a split (their amount becomes 0; they cover what is left when closing)
 * and adds shipping or delivery costs to the total. The full claim is replaced by a split row, which is
 * what invites the group (notify_split_invite).
 * Refusals: not_authenticated, item_not_found, celebrant_forbidden, invalid_additional_costs (negative or more
 * than two decimals), amount_too_large (the costs, or the total with them, above 9999999999.99),
 * item_not_claimed, claimer_only_forbidden, split_already_open.
 */
create or replace function public.open_split(p_workspace_id uuid, p_item_id uuid, p_additional_costs numeric default 0)
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
  v_refusal jsonb := platform.money_refusal(v_costs, 'invalid_additional_costs', 'Additional costs have at most two decimals');
  v_price numeric;
  v_total numeric;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to open a split');
  end if;
  select * into v_item from gifts.locate_item(p_workspace_id, p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  -- Refused before any claim state is read: a different answer would tell the celebrant it is claimed.
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'The celebrant cannot change claims on their own items');
  end if;
  if v_refusal is not null then
    return v_refusal;
  end if;
  if v_costs < 0 then
    return platform.refusal('invalid_additional_costs', 'Additional costs are zero or more');
  end if;
  select i.price into v_price
  from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id for update;
  -- Every amount of the split (the claimer's closing one among them) must fit where it is stored.
  if v_price + v_costs >= 10000000000 then
    return platform.refusal('amount_too_large', 'The price and additional costs together are at most 9999999999.99');
  end if;
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
  returning i.price + i.additional_costs, i.additional_costs into v_total, v_costs;
  delete from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.id = v_claim.id;
  insert into gifts.gift_claims (workspace_id, item_id, claimer_id, claim_type, amount, is_claimer, created_at)
  values (v_item.workspace_id, p_item_id, v_user, 'split', 0, true, v_claim.created_at);
  return jsonb_build_object('success', true, 'item_id', p_item_id, 'total', v_total, 'additional_costs', v_costs);
end;
$$;

grant execute on function public.open_split(uuid, uuid, numeric) to lockstep_api;

/*
 * open_split(p_item_id, p_additional_costs) → the same as open_split(p_workspace_id, p_item_id, p_additional_costs): the seed's form;
 * the item's workspace is looked up first (on Citus, across every shard).
 */
create or replace function public.open_split(p_item_id uuid, p_additional_costs numeric default 0)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.open_split(gifts.item_workspace(p_item_id), p_item_id, p_additional_costs);
end;
$$;

grant execute on function public.open_split(uuid, numeric) to lockstep_api;

/*
 * pledge_contribution(p_workspace_id, p_item_id, p_amount) → {success, claim_id, item_id, amount, total, pledged,
 * remaining}: a member pledges part of an open split, once. The item row is locked, so concurrent
 * pledges are serialised and never add up to more than the total.
 * Refusals: not_authenticated, invalid_amount (not > 0 or more than two decimals), amount_too_large, item_not_found,
 * celebrant_forbidden, split_not_open, split_fully_funded, already_pledged (the claimer included: they
 * cover the rest by closing), amount_exceeds_remaining.
 */
create or replace function public.pledge_contribution(p_workspace_id uuid, p_item_id uuid, p_amount numeric)
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
  v_amount numeric;
  v_refusal jsonb := platform.money_refusal(p_amount, 'invalid_amount', 'A pledge has at most two decimals');
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to pledge');
  end if;
  select * into v_item from gifts.locate_item(p_workspace_id, p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'You cannot pledge towards an item on your own wishlist');
  end if;
  if v_refusal is not null then
    return v_refusal;
  end if;
  if p_amount is null or p_amount <= 0 then
    return platform.refusal('invalid_amount', 'A pledge is more than zero');
  end if;
  select i.price + i.additional_costs into v_total
  from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id for update;
  if not exists (select 1 from gifts.gift_claims c
                 where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id
                   and c.is_claimer and c.claim_type = 'split') then
    return platform.refusal('split_not_open', 'This item is not open for split contributions');
  end if;
  select coalesce(sum(c.amount), 0.00) into v_pledged
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
    returning id, amount into v_claim_id, v_amount;
  exception when unique_violation then
    -- Unreachable while the item row is locked above; kept as the safety net the rule asks for.
    return platform.refusal('already_pledged', 'You already take part in this split');
  end;
  return jsonb_build_object('success', true, 'claim_id', v_claim_id, 'item_id', p_item_id, 'amount', v_amount,
    'total', v_total, 'pledged', v_pledged + v_amount, 'remaining', v_total - v_pledged - v_amount);
end;
$$;

grant execute on function public.pledge_contribution(uuid, uuid, numeric) to lockstep_api;

/*
 * pledge_contribution(p_item_id, p_amount) → the same as pledge_contribution(p_workspace_id, p_item_id, p_amount): the seed's form;
 * the item's workspace is looked up first (on Citus, across every shard).
 */
create or replace function public.pledge_contribution(p_item_id uuid, p_amount numeric)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.pledge_contribution(gifts.item_workspace(p_item_id), p_item_id, p_amount);
end;
$$;

grant execute on function public.pledge_contribution(uuid, numeric) to lockstep_api;

/*
 * close_split(p_workspace_id, p_item_id) → {success, item_id, total, claimer_amount, pledged, remaining: 0}: the
 * original claimer covers what is left; the item is then fully funded. Closing a split the pledges
 * already filled changes nothing and succeeds.
 * Refusals: not_authenticated, item_not_found, celebrant_forbidden, split_not_open, claimer_only_forbidden.
 */
create or replace function public.close_split(p_workspace_id uuid, p_item_id uuid)
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
  select * into v_item from gifts.locate_item(p_workspace_id, p_item_id);
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
  select coalesce(sum(c.amount), 0.00) into v_pledged
  from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id;
  if v_pledged < v_total then
    update gifts.gift_claims c set amount = c.amount + (v_total - v_pledged), updated_at = now()
    where c.workspace_id = v_item.workspace_id and c.id = v_claim.id
    returning c.amount into v_claim.amount;
  end if;
  return jsonb_build_object('success', true, 'item_id', p_item_id, 'total', v_total,
    'claimer_amount', v_claim.amount, 'pledged', v_total, 'remaining', 0.00);
end;
$$;

grant execute on function public.close_split(uuid, uuid) to lockstep_api;

/*
 * close_split(p_item_id) → the same as close_split(p_workspace_id, p_item_id): the seed's form;
 * the item's workspace is looked up first (on Citus, across every shard).
 */
create or replace function public.close_split(p_item_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.close_split(gifts.item_workspace(p_item_id), p_item_id);
end;
$$;

grant execute on function public.close_split(uuid) to lockstep_api;

/*
 * get_split_status(p_workspace_id, p_item_id) → {success, item_id, item_title, price, additional_costs, total,
 * pledged, remaining, is_fully_funded, claimer_id, claimer_name, contributors: [{user_id,
 * display_name, amount, is_claimer}]}. Refusals: not_authenticated, item_not_found,
 * celebrant_forbidden (the celebrant never sees who gives what), split_not_open.
 */
create or replace function public.get_split_status(p_workspace_id uuid, p_item_id uuid)
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
  v_claimer_name text;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to see a split');
  end if;
  select * into v_item from gifts.locate_item(p_workspace_id, p_item_id);
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
  -- Names read by join or before the statement: a helper reading a distributed table may not run inside a shard query.
  v_claimer_name := gifts.member_name(v_item.workspace_id, v_claimer);
  select * into v_row from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id;
  select coalesce(sum(c.amount), 0.00) into v_pledged
  from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id;
  return jsonb_build_object('success', true, 'item_id', p_item_id, 'item_title', v_row.title,
    'price', v_row.price, 'additional_costs', v_row.additional_costs, 'total', v_row.price + v_row.additional_costs,
    'pledged', v_pledged, 'remaining', v_row.price + v_row.additional_costs - v_pledged,
    'is_fully_funded', v_pledged >= v_row.price + v_row.additional_costs,
    'claimer_id', v_claimer, 'claimer_name', v_claimer_name,
    'contributors', (
      select coalesce(jsonb_agg(jsonb_build_object(
               'user_id', c.claimer_id, 'display_name', m.display_name,
               'amount', c.amount, 'is_claimer', c.is_claimer)
               order by c.is_claimer desc, c.created_at, c.claimer_id), '[]'::jsonb)
      from gifts.gift_claims c
      left join platform.members m on m.workspace_id = c.workspace_id and m.user_id = c.claimer_id
      where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id));
end;
$$;

grant execute on function public.get_split_status(uuid, uuid) to lockstep_api;

/*
 * get_split_status(p_item_id) → the same as get_split_status(p_workspace_id, p_item_id): the seed's form;
 * the item's workspace is looked up first (on Citus, across every shard).
 */
create or replace function public.get_split_status(p_item_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return public.get_split_status(gifts.item_workspace(p_item_id), p_item_id);
end;
$$;

grant execute on function public.get_split_status(uuid) to lockstep_api;

/*
 * get_suggested_share(p_workspace_id, p_item_id) → {success, item_id, remaining, participants, share, remainder_cents,
 * shares: [{user_id, display_name, amount, is_claimer}]}: what is left, divided equally among the
 * claimer and every member who can still pledge (not the celebrant, not those who already pledged).
 * share is the remainder divided by participants, rounded down to the cent; the first remainder_cents
 * participants of `shares` (the claimer first, then members by when they joined) get one cent more, so
 * the amounts in `shares` add up to `remaining` exactly. A suggestion only: any amount up to the
 * remainder may be pledged.
 * Refusals: not_authenticated, item_not_found, celebrant_forbidden, split_not_open.
 */
create or replace function public.get_suggested_share(p_workspace_id uuid, p_item_id uuid)
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
  select * into v_item from gifts.locate_item(p_workspace_id, p_item_id);
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

grant execute on function public.get_suggested_share(uuid, uuid) to lockstep_api;

/*
 * get_suggested_share(p_item_id) → the same as get_suggested_share(p_workspace_id, p_item_id): the seed's form;
 * the item's workspace is looked up first (on Citus, across every shard).
 */
create or replace function public.get_suggested_share(p_item_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return public.get_suggested_share(gifts.item_workspace(p_item_id), p_item_id);
end;
$$;

grant execute on function public.get_suggested_share(uuid) to lockstep_api;
