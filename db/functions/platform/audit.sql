/*
 * platform.audit_row() → trigger: writes one audit_log entry for the changed row. Arguments: the
 * row's key column, its workspace column and the table's name: on Citus the trigger fires on a worker's
 * shard, whose own name (crm.contacts_102170) is not the table's. An update that changes nothing is not recorded. Secrets
 * (access_token) are left out of the copies; a delete erases the row's personal fields from its earlier
 * entries and leaves them out of its own (audit_retention.sql).
 */
create or replace function platform.audit_row()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_before jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) - 'access_token' end;
  v_after jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) - 'access_token' end;
  v_row jsonb := coalesce(v_after, v_before);
  v_actor uuid := auth.uid();
  v_table text := tg_argv[2];
  v_context text;
  v_operation text;
begin
  if v_before = v_after then
    return null;
  end if;
  if tg_op = 'DELETE' then
    v_before := platform.erase_audit_personal_data(v_table, (v_row ->> tg_argv[1])::uuid, v_row ->> tg_argv[0], v_before);
  end if;
  -- The call stack, innermost first: the last function named is the operation the caller invoked.
  get diagnostics v_context = pg_context;
  select r.m[1] into v_operation
  from regexp_matches(v_context, 'function ([a-z_0-9]+\.[a-z_0-9]+)\(', 'g') with ordinality as r(m, n)
  order by r.n desc
  limit 1;
  if v_operation is null or v_operation = 'platform.audit_row' then
    v_operation := 'sql';
  end if;

  insert into platform.audit_log (workspace_id, actor_id, operation, action, entity_table, entity_id, before, after)
  values ((v_row ->> tg_argv[1])::uuid, v_actor, v_operation, lower(tg_op),
          v_table, v_row ->> tg_argv[0], v_before, v_after);
  return null;
end;
$$;

/*
 * platform.audit_table(p_table) → void: attaches the audit trigger to a tenant table (key: the primary
 * key column after workspace_id; platform.workspaces is its own workspace). Run by this file only.
 */
create or replace function platform.audit_table(p_table regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_key text;
  v_workspace text;
begin
  select a.attname::text into v_key
  from pg_catalog.pg_index i
  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
  where i.indrelid = p_table and i.indisprimary and a.attname <> 'workspace_id'
  order by array_position(i.indkey::int2[], a.attnum)
  limit 1;
  v_workspace := case when p_table = 'platform.workspaces'::regclass then 'id' else 'workspace_id' end;
  if v_key is null then
    raise exception 'audit_table: % has no primary key besides workspace_id', p_table;
  end if;
  execute format('create or replace trigger audit after insert or update or delete on %s for each row execute function platform.audit_row(%L, %L, %L)',
                 p_table, v_key, v_workspace,
                 (select format('%s.%s', n.nspname, c.relname) from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = p_table));
end;
$$;

-- Every tenant table gets the trigger: this file is applied again after every migration, so a table a
-- later migration creates cannot miss it (AuditTrailTests checks the catalog). Except
-- gifts.notification_counters: a counter moves with every notification, whose own entry already says
-- so, and its entries would name no item, so get_audit_log could not hide them from the celebrant.
select platform.audit_table(c.oid)
from pg_catalog.pg_class c
where c.relkind in ('r', 'p')
  and c.relnamespace::regnamespace::text in ('platform', 'crm', 'leads', 'sessions', 'gifts')
  and c.oid <> 'platform.audit_log'::regclass
  and c.oid::regclass::text <> 'gifts.notification_counters'
  and (c.oid = 'platform.workspaces'::regclass
       or exists (select from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attname = 'workspace_id' and not a.attisdropped));

/*
 * get_audit_log(p_workspace_id, p_entity_table, p_entity_id, p_limit, p_before) → jsonb: the recorded
 * changes of the workspace, or of one entity (table such as 'crm.clients' and key), newest first (by at,
 * then id), p_limit (1..200) at a time (db/functions/platform/paging.sql). Owners only.
 * {"success": true, "entries": [{id, at, actor_id, operation, action, entity_table, entity_id, before, after}],
 *  "next_before": cursor or null}
 * The celebrant never learns who gives what: for the items of the caller's own wishlists, the rows of
 * any other gifts table that name the item (gift_claims by item_id, notifications by data.item_id)
 * are left out, and the item's own entries lose its claim-derived fields (additional_costs); an
 * update that changed nothing else is left out. This happens before the limit and under the entity
 * filter too, so neither the number of entries on a page nor a filter on a claim's id tells anything.
 * Refusals: not_authenticated, workspace_not_found (not a member), forbidden (not an owner),
 * invalid_limit, invalid_cursor.
 */
create or replace function public.get_audit_log(
  p_workspace_id uuid, p_entity_table text default null, p_entity_id text default null,
  p_limit integer default 50, p_before text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_role text;
  -- Fields of an item row that only claims change: what get_wishlist does not show the celebrant.
  v_claim_fields constant text[] := array['additional_costs'];
  v_before_at timestamptz;
  v_before_id bigint;
  v_refusal jsonb;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to read the audit trail');
  end if;
  v_role := platform.member_role(p_workspace_id, v_user);
  if v_role is null then
    return platform.refusal('workspace_not_found', 'No such workspace');
  end if;
  if v_role <> 'owner' then
    return platform.refusal('forbidden', 'Only owners read the audit trail');
  end if;
  select k.at, k.id into v_before_at, v_before_id from platform.page_key_bigint(p_before) k;
  v_refusal := platform.page_refusal(p_limit, p_before, v_before_at);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return (
    select jsonb_build_object('success', true,
             'entries', coalesce(jsonb_agg(jsonb_build_object(
               'id', e.id, 'at', e.at, 'actor_id', e.actor_id, 'operation', e.operation, 'action', e.action,
               'entity_table', e.entity_table, 'entity_id', e.entity_id,
               'before', case when e.own_item then e.before - v_claim_fields else e.before end,
               'after', case when e.own_item then e.after - v_claim_fields else e.after end)
               order by e.n) filter (where e.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor(e.at, e.id::text)) filter (where e.n = p_limit) end)
    from (
      select l.*, o.own_item, row_number() over (order by l.at desc, l.id desc) as n
      from platform.audit_log l
      cross join lateral (select coalesce(case
          when l.entity_table = 'gifts.wishlist_items' then l.entity_id
          when l.entity_table like 'gifts.%' then coalesce(coalesce(l.after, l.before) ->> 'item_id',
                                                           coalesce(l.after, l.before) -> 'data' ->> 'item_id')
        end in (
          select i.id::text
          from gifts.wishlist_items i
          join gifts.wishlists w on w.workspace_id = i.workspace_id and w.id = i.wishlist_id
          where w.workspace_id = p_workspace_id and w.celebrant_id = v_user), false) as own_item) o
      where l.workspace_id = p_workspace_id
        and (p_entity_table is null or l.entity_table = p_entity_table)
        and (p_entity_id is null or l.entity_id = p_entity_id)
        and (l.at, l.id) < (v_before_at, v_before_id)
        and (not o.own_item
             or (l.entity_table = 'gifts.wishlist_items'
                 and (l.action <> 'update' or l.before - v_claim_fields is distinct from l.after - v_claim_fields)))
      order by l.at desc, l.id desc
      limit p_limit + 1) e);
end;
$$;

grant execute on function public.get_audit_log(uuid, text, text, integer, text) to lockstep_api;
