/*
 * platform.member_role(workspace, user) → text: the user's role in the workspace, or null.
 */
create or replace function platform.member_role(p_workspace_id uuid, p_user_id uuid)
returns text
language plpgsql
stable
set search_path = ''
as $$
begin
  return (select m.role from platform.members m
          where m.workspace_id = p_workspace_id and m.user_id = p_user_id);
end;
$$;

/*
 * Backstop for "a workspace always keeps at least one owner", for any writer, the functions below
 * included. It locks the workspace row first: two transactions demoting the last two owners at once
 * are serialised, so the second sees the first's change and is refused at commit. Like every member
 * change it locks `for no key update`, never `for update`: the foreign key check of every insert into the
 * workspace's tables takes `key share` on that row, which only `for update` would block. Security definer: being
 * deferred, it runs at commit as the session's role (the serving role, which reads no table), not inside
 * the function that changed the row.
 */
create or replace function platform.ensure_workspace_keeps_owner()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1 from platform.workspaces w where w.id = old.workspace_id for no key update;
  if not found then
    return null; -- the workspace itself is being deleted
  end if;
  if not exists (
    select 1 from platform.members m where m.workspace_id = old.workspace_id and m.role = 'owner'
  ) then
    -- The message names the constraint too: on Citus the refusal comes back from a worker without it.
    raise exception 'Workspace % would be left without an owner (constraint "workspace_keeps_owner")', old.workspace_id
      using errcode = '23514', constraint = 'workspace_keeps_owner';
  end if;
  return null;
end;
$$;

-- Deferred to commit, so a transaction may promote and demote in any order. A constraint trigger has
-- no "or replace": it is dropped and created again in this file's transaction.
drop trigger if exists workspace_keeps_owner on platform.members;
create constraint trigger workspace_keeps_owner
  after update of role or delete on platform.members
  deferrable initially deferred
  for each row
  when (old.role = 'owner')
  execute function platform.ensure_workspace_keeps_owner();

/*
 * list_members(p_workspace_id, p_limit, p_before) → {success, members: [{user_id, role, display_name}],
 * next_before}: members only; newest first, p_limit (1..200) at a time (db/functions/platform/paging.sql).
 * Refusals: workspace_not_found (also for non-members: a workspace is invisible to outsiders),
 * invalid_limit, invalid_cursor.
 */
create or replace function public.list_members(p_workspace_id uuid, p_limit integer default 50, p_before text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_caller uuid := auth.uid();
  v_before_at timestamptz;
  v_before_id uuid;
  v_refusal jsonb;
begin
  if platform.member_role(p_workspace_id, v_caller) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  select k.at, k.id into v_before_at, v_before_id from platform.page_key_uuid(p_before) k;
  v_refusal := platform.page_refusal(p_limit, p_before, v_before_at);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return (
    select jsonb_build_object('success', true,
             'members', coalesce(jsonb_agg(jsonb_build_object(
               'user_id', m.user_id, 'role', m.role, 'display_name', m.display_name)
               order by m.n) filter (where m.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor(m.created_at, m.user_id::text)) filter (where m.n = p_limit) end)
    from (
      select m.*, row_number() over (order by m.created_at desc, m.user_id desc) as n
      from platform.members m
      where m.workspace_id = p_workspace_id
        and (m.created_at, m.user_id) < (v_before_at, v_before_id)
      order by m.created_at desc, m.user_id desc
      limit p_limit + 1) m);
end;
$$;

grant execute on function public.list_members(uuid, integer, text) to lockstep_api;

/*
 * add_member(p_workspace_id, p_user_id, p_role, p_display_name) → {success, user_id, role}.
 * Owners add anyone; admins add admins and members. The caller's role is read under the workspace
 * lock, so a caller demoted or removed meanwhile adds nobody.
 * Refusals: workspace_not_found, forbidden, invalid_role, already_member.
 */
create or replace function public.add_member(
  p_workspace_id uuid,
  p_user_id uuid,
  p_role text default 'member',
  p_display_name text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := auth.uid();
  v_caller_role text;
begin
  if platform.member_role(p_workspace_id, v_caller) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_role is null or p_role not in ('owner', 'admin', 'member') then
    return platform.refusal('invalid_role', format('Role %L is not one of owner, admin, member', p_role));
  end if;
  if p_user_id is null then
    return platform.refusal('user_id_required', 'A member needs a user id');
  end if;

  perform 1 from platform.workspaces w where w.id = p_workspace_id for no key update;
  -- Read the caller's role again under the lock: a concurrent call may have just demoted or removed them.
  v_caller_role := platform.member_role(p_workspace_id, v_caller);
  if v_caller_role is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if v_caller_role = 'member' or (v_caller_role = 'admin' and p_role = 'owner') then
    return platform.refusal('forbidden', 'Only owners add owners, and only owners and admins add members');
  end if;
  if length(p_display_name) > 200 then
    return platform.refusal('display_name_too_long', 'A display name has at most 200 characters');
  end if;

  insert into platform.members (workspace_id, user_id, role, display_name)
  values (p_workspace_id, p_user_id, p_role, nullif(btrim(p_display_name), ''))
  on conflict (workspace_id, user_id) do nothing;
  if not found then
    return platform.refusal('already_member', 'That user is already a member of this workspace');
  end if;

  return jsonb_build_object('success', true, 'user_id', p_user_id, 'role', p_role);
end;
$$;

grant execute on function public.add_member(uuid, uuid, text, text) to lockstep_api;

/*
 * set_member_role(p_workspace_id, p_user_id, p_role) → {success, user_id, role}.
 * Owners change anyone's role; admins change admins and members but never to or from owner.
 * The workspace row is locked first, so concurrent demotions of the last owners are serialised.
 * Refusals: workspace_not_found, member_not_found, forbidden, invalid_role, last_owner.
 */
create or replace function public.set_member_role(p_workspace_id uuid, p_user_id uuid, p_role text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := auth.uid();
  v_caller_role text;
  v_target_role text;
begin
  if platform.member_role(p_workspace_id, v_caller) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_role is null or p_role not in ('owner', 'admin', 'member') then
    return platform.refusal('invalid_role', format('Role %L is not one of owner, admin, member', p_role));
  end if;

  perform 1 from platform.workspaces w where w.id = p_workspace_id for no key update;
  -- Read the caller's role again under the lock: a concurrent call may have just demoted or removed them.
  v_caller_role := platform.member_role(p_workspace_id, v_caller);
  if v_caller_role is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;

  select m.role into v_target_role
  from platform.members m
  where m.workspace_id = p_workspace_id and m.user_id = p_user_id
  for update;
  if v_target_role is null then
    return platform.refusal('member_not_found', 'That user is not a member of this workspace');
  end if;
  if v_caller_role = 'member'
     or (v_caller_role = 'admin' and (v_target_role = 'owner' or p_role = 'owner')) then
    return platform.refusal('forbidden', 'Only owners change owners, and only owners and admins change roles');
  end if;
  if v_target_role = 'owner' and p_role <> 'owner' and not exists (
    select 1 from platform.members m
    where m.workspace_id = p_workspace_id and m.role = 'owner' and m.user_id <> p_user_id
  ) then
    return platform.refusal('last_owner', 'A workspace keeps at least one owner');
  end if;

  update platform.members m set role = p_role
  where m.workspace_id = p_workspace_id and m.user_id = p_user_id;

  return jsonb_build_object('success', true, 'user_id', p_user_id, 'role', p_role);
end;
$$;

grant execute on function public.set_member_role(uuid, uuid, text) to lockstep_api;

/*
 * remove_member(p_workspace_id, p_user_id) → {success, user_id}.
 * Any member may leave; owners remove anyone; admins remove admins and members.
 * Refusals: workspace_not_found, member_not_found, forbidden, last_owner.
 */
create or replace function public.remove_member(p_workspace_id uuid, p_user_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := auth.uid();
  v_caller_role text;
  v_target_role text;
begin
  if platform.member_role(p_workspace_id, v_caller) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;

  perform 1 from platform.workspaces w where w.id = p_workspace_id for no key update;
  -- Read the caller's role again under the lock: a concurrent call may have just demoted or removed them.
  v_caller_role := platform.member_role(p_workspace_id, v_caller);
  if v_caller_role is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;

  select m.role into v_target_role
  from platform.members m
  where m.workspace_id = p_workspace_id and m.user_id = p_user_id
  for update;
  if v_target_role is null then
    return platform.refusal('member_not_found', 'That user is not a member of this workspace');
  end if;
  if p_user_id <> v_caller and (
       v_caller_role = 'member' or (v_caller_role = 'admin' and v_target_role = 'owner')) then
    return platform.refusal('forbidden', 'Only owners remove owners, and only owners and admins remove members');
  end if;
  if v_target_role = 'owner' and not exists (
    select 1 from platform.members m
    where m.workspace_id = p_workspace_id and m.role = 'owner' and m.user_id <> p_user_id
  ) then
    return platform.refusal('last_owner', 'A workspace keeps at least one owner');
  end if;

  delete from platform.members m
  where m.workspace_id = p_workspace_id and m.user_id = p_user_id;

  return jsonb_build_object('success', true, 'user_id', p_user_id);
end;
$$;

grant execute on function public.remove_member(uuid, uuid) to lockstep_api;
