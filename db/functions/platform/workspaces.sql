/*
 * create_workspace(p_name) → {success, workspace_id}: creates a workspace; the caller becomes its owner.
 * Refusals: not_authenticated, workspace_name_required.
 */
create or replace function public.create_workspace(p_name text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_workspace_id uuid;
begin
  if v_user is null then
    return platform.refusal('not_authenticated', 'Sign in to create a workspace');
  end if;
  if p_name is null or length(btrim(p_name)) = 0 then
    return platform.refusal('workspace_name_required', 'A workspace needs a name');
  end if;
  if length(btrim(p_name)) > 200 then
    return platform.refusal('workspace_name_too_long', 'A workspace name has at most 200 characters');
  end if;

  insert into platform.workspaces (name, created_by)
  values (btrim(p_name), v_user)
  returning id into v_workspace_id;

  insert into platform.members (workspace_id, user_id, role)
  values (v_workspace_id, v_user, 'owner');

  return jsonb_build_object('success', true, 'workspace_id', v_workspace_id);
end;
$$;

grant execute on function public.create_workspace(text) to lockstep_api;

/*
 * list_workspaces() → jsonb array of {workspace_id, name, role}: the caller's workspaces.
 */
create or replace function public.list_workspaces()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  return (
    select coalesce(jsonb_agg(jsonb_build_object(
             'workspace_id', w.id, 'name', w.name, 'role', m.role, 'created_at', w.created_at)
             order by w.created_at, w.id), '[]'::jsonb)
    from platform.members m
    join platform.workspaces w on w.id = m.workspace_id
    where m.user_id = v_user);
end;
$$;

grant execute on function public.list_workspaces() to lockstep_api;
