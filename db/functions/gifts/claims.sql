/*
 * claim_item(p_workspace_id, p_item_id) → {success, claim_id, item_id, claim_type: 'full', amount}: claims the whole
 * item. Refusals: not_authenticated, item_not_found (also for outsiders), celebrant_forbidden,
 * item_already_claimed.
 */
create or replace function public.claim_item(p_workspace_id uuid, p_item_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_item record;
  v_total numeric;
  v_claim_id uuid;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to claim an item');
  end if;
  select * into v_item from gifts.locate_item(p_workspace_id, p_item_id);
  if v_item.workspace_id is null or platform.member_role(v_item.workspace_id, v_user) is null then
    return platform.refusal('item_not_found', 'Item not found');
  end if;
  if v_item.celebrant_id = v_user then
    return platform.refusal('celebrant_forbidden', 'You cannot claim an item on your own wishlist');
  end if;
  select i.price + i.additional_costs into v_total
  from gifts.wishlist_items i where i.workspace_id = v_item.workspace_id and i.id = p_item_id for update;
  if exists (select 1 from gifts.gift_claims c where c.workspace_id = v_item.workspace_id and c.item_id = p_item_id) then
    return platform.refusal('item_already_claimed', 'This item is already claimed');
  end if;
  -- A values insert, not insert ... select: on Citus the latter (its defaults are volatile) is run through
  -- the coordinator and commits by two-phase commit.
  insert into gifts.gift_claims (workspace_id, item_id, claimer_id, claim_type, amount, is_claimer)
  values (v_item.workspace_id, p_item_id, v_user, 'full', v_total, true)
  returning id into v_claim_id;
  return jsonb_build_object('success', true, 'claim_id', v_claim_id, 'item_id', p_item_id, 'claim_type', 'full');
end;
$$;

grant execute on function public.claim_item(uuid, uuid) to lockstep_api;

/*
 * claim_item(p_item_id) → the same as claim_item(p_workspace_id, p_item_id): the seed's form;
 * the item's workspace is looked up first (on Citus, across every shard).
 */
create or replace function public.claim_item(p_item_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.claim_item(gifts.item_workspace(p_item_id), p_item_id);
end;
$$;

grant execute on function public.claim_item(uuid) to lockstep_api;

/*
 * unclaim_item(p_workspace_id, p_item_id) → {success, item_id}: the claimer withdraws a full claim or an open split;
 * the split's additional costs go with it.
 * Refusals: not_authenticated, item_not_found, celebrant_forbidden, item_not_claimed, claimer_only_forbidden,
 * has_contributions ("Cannot unclaim: item has contributions from other members").
 */
create or replace function public.unclaim_item(p_workspace_id uuid, p_item_id uuid)
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
  select * into v_item from gifts.locate_item(p_workspace_id, p_item_id);
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
  -- Additional costs belong to the split that added them: the next claim starts from the price.
  update gifts.wishlist_items i set additional_costs = 0
  where i.workspace_id = v_item.workspace_id and i.id = p_item_id and i.additional_costs <> 0;
  return jsonb_build_object('success', true, 'item_id', p_item_id);
end;
$$;

grant execute on function public.unclaim_item(uuid, uuid) to lockstep_api;

/*
 * unclaim_item(p_item_id) → the same as unclaim_item(p_workspace_id, p_item_id): the seed's form;
 * the item's workspace is looked up first (on Citus, across every shard).
 */
create or replace function public.unclaim_item(p_item_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.unclaim_item(gifts.item_workspace(p_item_id), p_item_id);
end;
$$;

grant execute on function public.unclaim_item(uuid) to lockstep_api;
