/*
 * gifts.locate_item(workspace, item) → the item's workspace and celebrant when the item is in that
 * workspace (else nulls), read without a lock, so that the caller can check membership and then lock the
 * row filtered by its workspace.
 */
create or replace function gifts.locate_item(p_workspace_id uuid, p_item_id uuid, out workspace_id uuid, out celebrant_id uuid)
language plpgsql
stable
set search_path = ''
as $$
begin
  select i.workspace_id, w.celebrant_id into workspace_id, celebrant_id
  from gifts.wishlist_items i
  join gifts.wishlists w on w.workspace_id = i.workspace_id and w.id = i.wishlist_id
  where i.workspace_id = p_workspace_id and i.id = p_item_id;
end;
$$;

/*
 * gifts.item_workspace(item) → uuid: the item's workspace, or null; for the forms named by an item id
 * alone, which then call their p_workspace_id form (that one checks membership).
 */
create or replace function gifts.item_workspace(p_item_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
begin
  return (select i.workspace_id from gifts.wishlist_items i where i.id = p_item_id);
end;
$$;

/*
 * gifts.wishlist_workspace(wishlist) → uuid: the wishlist's workspace, or null; for the forms named by a
 * wishlist id alone, which then call their p_workspace_id form (that one checks membership).
 */
create or replace function gifts.wishlist_workspace(p_wishlist_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
begin
  return (select w.workspace_id from gifts.wishlists w where w.id = p_wishlist_id);
end;
$$;

/*
 * gifts.member_name(workspace, user) → the member's display name, or null.
 */
create or replace function gifts.member_name(p_workspace_id uuid, p_user_id uuid)
returns text
language plpgsql
stable
set search_path = ''
as $$
begin
  return (select m.display_name from platform.members m where m.workspace_id = p_workspace_id and m.user_id = p_user_id);
end;
$$;

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

grant execute on function public.create_wishlist(uuid, text) to lockstep_api;

/*
 * add_wishlist_item(p_workspace_id, p_wishlist_id, p_title, p_price, p_link, p_notes) → {success,
 * item_id}: the celebrant only. Refusals: not_authenticated, wishlist_not_found (also another
 * workspace's), celebrant_only_forbidden,
 * item_title_required, item_title_too_long, invalid_price (not > 0 or more than two decimals),
 * amount_too_large (more than 9999999999.99), link_too_long, notes_too_long.
 */
create or replace function public.add_wishlist_item(
  p_workspace_id uuid, p_wishlist_id uuid, p_title text, p_price numeric, p_link text default null, p_notes text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_wishlist record;
  v_id uuid;
  v_refusal jsonb := platform.money_refusal(p_price, 'invalid_price', 'A price has at most two decimals');
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to add an item');
  end if;
  select w.workspace_id, w.celebrant_id into v_wishlist from gifts.wishlists w
  where w.workspace_id = p_workspace_id and w.id = p_wishlist_id;
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
  if v_refusal is not null then
    return v_refusal;
  end if;
  if p_price is null or p_price <= 0 then
    return platform.refusal('invalid_price', 'A price is more than zero');
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

grant execute on function public.add_wishlist_item(uuid, uuid, text, numeric, text, text) to lockstep_api;

/*
 * add_wishlist_item(p_wishlist_id, p_title, p_price, p_link, p_notes) → {success, item_id}: the seed's
 * form of add_wishlist_item(p_workspace_id, ...), the wishlist's workspace looked up first.
 */
create or replace function public.add_wishlist_item(
  p_wishlist_id uuid, p_title text, p_price numeric, p_link text default null, p_notes text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.add_wishlist_item(gifts.wishlist_workspace(p_wishlist_id), p_wishlist_id, p_title, p_price, p_link, p_notes);
end;
$$;

grant execute on function public.add_wishlist_item(uuid, text, numeric, text, text) to lockstep_api;

/*
 * list_wishlists(p_workspace_id, p_limit, p_before) → {success, wishlists: [{wishlist_id, title,
 * celebrant_id, celebrant_name, item_count, created_at}], next_before}: newest first, p_limit (1..200) at
 * a time (db/functions/platform/paging.sql). Refusals: workspace_not_found, invalid_limit, invalid_cursor.
 */
create or replace function public.list_wishlists(p_workspace_id uuid, p_limit integer default 50, p_before text default null)
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
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  select k.at, k.id into v_before_at, v_before_id from platform.page_key_uuid(p_before) k;
  v_refusal := platform.page_refusal(p_limit, p_before, v_before_at);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return (
    select jsonb_build_object('success', true,
             'wishlists', coalesce(jsonb_agg(jsonb_build_object(
               'wishlist_id', w.id, 'title', w.title, 'celebrant_id', w.celebrant_id,
               'celebrant_name', m.display_name,
               'item_count', coalesce(ic.item_count, 0),
               'created_at', w.created_at) order by w.n) filter (where w.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor(w.created_at, w.id::text)) filter (where w.n = p_limit) end)
    -- Joins, not correlated subqueries or helpers that read tables: Citus plans this page as one query
    -- on the workspace's shard and refuses a correlated subquery over a subquery (db/README.md, rules for scale-out).
    from (
      select w.*, row_number() over (order by w.created_at desc, w.id desc) as n
      from gifts.wishlists w
      where w.workspace_id = p_workspace_id
        and (w.created_at, w.id) < (v_before_at, v_before_id)
      order by w.created_at desc, w.id desc
      limit p_limit + 1) w
    left join platform.members m on m.workspace_id = w.workspace_id and m.user_id = w.celebrant_id
    left join (
      select i.wishlist_id, count(*) as item_count
      from gifts.wishlist_items i
      where i.workspace_id = p_workspace_id
      group by i.wishlist_id) ic on ic.wishlist_id = w.id);
end;
$$;

grant execute on function public.list_wishlists(uuid, integer, text) to lockstep_api;

/*
 * get_wishlist(p_workspace_id, p_wishlist_id, p_items_limit, p_items_before) → {success, wishlist_id, workspace_id, title,
 * celebrant_id, celebrant_name, is_celebrant, items: [...], items_next_before}: the wishlist and a page of
 * its items, newest first, p_items_limit (1..200) at a time; items_next_before, passed back as
 * p_items_before, gives the next page (db/functions/platform/paging.sql). Every item has item_id, title,
 * price, link, notes, created_at. For the celebrant that is all: no claim state, no additional costs,
 * nothing that tells a claim or split apart. For everyone else an item also has additional_costs, total,
 * claim_state (unclaimed | claimed | split_open | fully_funded), claimer_id, claimer_name, pledged, remaining.
 * Refusals: wishlist_not_found (also another workspace's), invalid_limit, invalid_cursor.
 */
create or replace function public.get_wishlist(
  p_workspace_id uuid, p_wishlist_id uuid, p_items_limit integer default 50, p_items_before text default null)
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
  v_celebrant_name text;
  v_before_at timestamptz;
  v_before_id uuid;
  v_refusal jsonb;
begin
  select * into v_wishlist from gifts.wishlists w where w.workspace_id = p_workspace_id and w.id = p_wishlist_id;
  if v_wishlist.id is null or platform.member_role(v_wishlist.workspace_id, v_user) is null then
    return platform.refusal('wishlist_not_found', 'Wishlist not found');
  end if;
  select k.at, k.id into v_before_at, v_before_id from platform.page_key_uuid(p_items_before) k;
  v_refusal := platform.page_refusal(p_items_limit, p_items_before, v_before_at);
  if v_refusal is not null then
    return v_refusal;
  end if;
  v_celebrant := v_wishlist.celebrant_id = v_user;
  -- Read before the statement: a helper reading a distributed table may not run inside a shard query.
  v_celebrant_name := gifts.member_name(v_wishlist.workspace_id, v_wishlist.celebrant_id);
  return (
    select jsonb_build_object(
      'success', true, 'wishlist_id', v_wishlist.id, 'workspace_id', v_wishlist.workspace_id,
      'title', v_wishlist.title, 'celebrant_id', v_wishlist.celebrant_id,
      'celebrant_name', v_celebrant_name,
      'is_celebrant', v_celebrant,
      'items', coalesce(jsonb_agg(
        case when v_celebrant then base
        else base || jsonb_build_object(
          'additional_costs', i.additional_costs,
          'total', i.price + i.additional_costs,
          'claim_state', case
            when c.claimer_id is null then 'unclaimed'
            when c.claim_type = 'full' then 'claimed'
            when coalesce(p.pledged, 0.00) >= i.price + i.additional_costs then 'fully_funded'
            else 'split_open' end,
          'claimer_id', c.claimer_id,
          'claimer_name', cm.display_name,
          'pledged', coalesce(p.pledged, 0.00),
          'remaining', case when c.claim_type = 'split' then i.price + i.additional_costs - coalesce(p.pledged, 0.00) end)
        end order by i.n) filter (where i.n <= p_items_limit), '[]'::jsonb),
      'items_next_before', case when count(*) > p_items_limit
        then max(platform.page_cursor(i.created_at, i.id::text)) filter (where i.n = p_items_limit) end)
    -- Plain joins on the workspace's shard, no lateral or correlated subqueries over the page: Citus
    -- refuses those (db/README.md, rules for scale-out). One claimer per item at most (a unique index).
    from (
      select i.*, row_number() over (order by i.created_at desc, i.id desc) as n,
             jsonb_build_object('item_id', i.id, 'title', i.title, 'price', i.price, 'link', i.link,
                                'notes', i.notes, 'created_at', i.created_at) as base
      from gifts.wishlist_items i
      where i.workspace_id = v_wishlist.workspace_id and i.wishlist_id = v_wishlist.id
        and (i.created_at, i.id) < (v_before_at, v_before_id)
      order by i.created_at desc, i.id desc
      limit p_items_limit + 1) i
    left join gifts.gift_claims c on c.workspace_id = i.workspace_id and c.item_id = i.id and c.is_claimer
    left join platform.members cm on cm.workspace_id = c.workspace_id and cm.user_id = c.claimer_id
    left join (
      select a.item_id, sum(a.amount) as pledged
      from gifts.gift_claims a
      where a.workspace_id = v_wishlist.workspace_id and a.claim_type = 'split'
      group by a.item_id) p on p.item_id = i.id);
end;
$$;

grant execute on function public.get_wishlist(uuid, uuid, integer, text) to lockstep_api;

/*
 * get_wishlist(p_wishlist_id, p_items_limit, p_items_before) → the same as get_wishlist(p_workspace_id,
 * ...): the seed's form, the wishlist's workspace looked up first.
 */
create or replace function public.get_wishlist(
  p_wishlist_id uuid, p_items_limit integer default 50, p_items_before text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return public.get_wishlist(gifts.wishlist_workspace(p_wishlist_id), p_wishlist_id, p_items_limit, p_items_before);
end;
$$;

grant execute on function public.get_wishlist(uuid, integer, text) to lockstep_api;
