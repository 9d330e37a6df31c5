/*
 * What the audit trail keeps of personal data. An entry copies the whole row (platform.audit_row in
 * audit.sql), so names, phones, emails and message bodies would stay in platform.audit_log for good,
 * also once the row itself is gone. Two limits: a deleted row takes its personal fields out of every
 * entry of its own (platform.erase_audit_personal_data, called by audit_row on delete, so every
 * deleter — a function, a cascade, direct SQL — gets it; the fact of each change stays: action, at,
 * actor, operation, entity id, and the fields that are not personal), and entries older than the
 * retention are purged (platform.purge_audit_log, run by the server's AuditRetention service).
 */

/*
 * platform.audit_personal_fields(p_table) → text[]: the columns of a tenant table ('crm.contacts') that
 * hold personal data: names, phones, emails, free text people wrote or were sent, and copies of them
 * (gifts.notifications.data carries the claimer's name). Empty for a table without any.
 * AuditErasureTests fails on a text or jsonb column of a tenant table that is neither here nor in its
 * list of columns known to hold none, so a new column is classified when it is added.
 */
create or replace function platform.audit_personal_fields(p_table text)
returns text[]
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case p_table
    -- A workspace's name can be a family's ("The Lees"), a gift group's or a person's business.
    when 'platform.workspaces' then array['name']
    when 'platform.members' then array['display_name']
    when 'crm.clients' then array['name', 'notes']
    when 'crm.contacts' then array['name', 'phone', 'phone_e164', 'email']
    when 'leads.leads' then array['details']
    -- error: the Cloud API's reason for a failed message, which may quote the recipient;
    -- template_parameters: the texts filled into a template (names, order details).
    when 'leads.messages' then array['body', 'error', 'template_parameters']
    when 'leads.outbox' then array['recipient', 'last_error']
    when 'leads.pending_statuses' then array['error']
    when 'gifts.wishlists' then array['title']
    when 'gifts.wishlist_items' then array['title', 'notes', 'link']
    when 'gifts.notifications' then array['data']
    else array[]::text[]
  end
$$;

/*
 * platform.erase_audit_personal_data(p_table, p_workspace_id, p_entity_id, p_row) → jsonb: for a row
 * being deleted, removes its personal fields from the before/after copies of every earlier entry of
 * that entity, and returns p_row without them (what the delete's own entry keeps). Called by
 * platform.audit_row in the deleting transaction, cascaded deletes included (a client's contacts, a
 * workspace's rows).
 */
create or replace function platform.erase_audit_personal_data(p_table text, p_workspace_id uuid, p_entity_id text, p_row jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_fields text[] := platform.audit_personal_fields(p_table);
begin
  if cardinality(v_fields) = 0 then
    return p_row;
  end if;
  update platform.audit_log l
  set before = l.before - v_fields,
      after = l.after - v_fields
  where l.workspace_id = p_workspace_id and l.entity_table = p_table and l.entity_id = p_entity_id
    and (l.before ?| v_fields or l.after ?| v_fields);
  return p_row - v_fields;
end;
$$;

/*
 * platform.purge_audit_log(p_before, p_limit) → integer: deletes up to p_limit entries recorded before
 * p_before, oldest first within each workspace, and returns how many. Server only (the AuditRetention
 * service, which calls it until a batch comes back short). Citus refuses FOR UPDATE across shards, so the
 * workspaces of the oldest entries are read first, without a lock, and each is purged by a query on its
 * own shard that takes its entries FOR UPDATE SKIP LOCKED: two servers purging at once never wait for each
 * other or delete (and count) the same entry.
 */
create or replace function platform.purge_audit_log(p_before timestamptz, p_limit integer)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_left integer := greatest(coalesce(p_limit, 0), 0);
  v_workspace uuid;
  v_ids bigint[];
  v_batch integer;
begin
  for v_workspace in
    select o.workspace_id
    from (select l.workspace_id, l.at from platform.audit_log l where l.at < p_before order by l.at limit v_left) o
    group by o.workspace_id
    order by min(o.at)
  loop
    -- Two statements, each on the workspace's shard: Citus would run a delete joined to a locking CTE
    -- on every shard (and make it wait for other purgers there).
    v_ids := array(
      select l.id
      from platform.audit_log l
      where l.workspace_id = v_workspace and l.at < p_before
      order by l.at
      limit v_left
      for update skip locked);
    delete from platform.audit_log l where l.workspace_id = v_workspace and l.id = any (v_ids);
    get diagnostics v_batch = row_count;
    v_left := v_left - v_batch;
    exit when v_left = 0;
  end loop;
  return greatest(coalesce(p_limit, 0), 0) - v_left;
end;
$$;

grant execute on function platform.purge_audit_log(timestamptz, integer) to lockstep_api;
