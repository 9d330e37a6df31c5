/*
 * create_client_with_contact(p_workspace_id, p_client_name, p_contact_name, p_contact_phone,
 * p_contact_email, p_client_notes) → {success, client_id, contact_id}: a client and its primary contact,
 * both rows or neither. Members only.
 * Refusals: workspace_not_found, client_name_required, client_name_too_long, client_notes_too_long,
 * contact_required, contact_name_too_long, invalid_phone, invalid_email, phone_taken (with contact_id).
 */
create or replace function public.create_client_with_contact(
  p_workspace_id uuid,
  p_client_name text,
  p_contact_name text,
  p_contact_phone text default null,
  p_contact_email text default null,
  p_client_notes text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_refusal jsonb;
  v_client_id uuid;
  v_contact_id uuid;
  v_constraint text;
  v_message text;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_client_name is null or length(btrim(p_client_name)) = 0 then
    return platform.refusal('client_name_required', 'A client needs a name');
  end if;
  if length(btrim(p_client_name)) > 200 then
    return platform.refusal('client_name_too_long', 'A client name has at most 200 characters');
  end if;
  if length(p_client_notes) > 10000 then
    return platform.refusal('client_notes_too_long', 'Client notes have at most 10000 characters');
  end if;
  if p_contact_name is null or length(btrim(p_contact_name)) = 0 then
    return platform.refusal('contact_required', 'A client is created together with its primary contact: give the contact''s name');
  end if;
  v_refusal := crm.check_contact(p_contact_name, p_contact_phone, p_contact_email);
  if v_refusal is not null then
    return v_refusal;
  end if;

  -- One block, so a failing contact insert also undoes the client (both rows or neither). A concurrent
  -- caller with the same phone waits on the unique index, then lands here and learns the winner's id.
  begin
    insert into crm.clients (workspace_id, name, notes, created_by)
    values (p_workspace_id, btrim(p_client_name), nullif(p_client_notes, ''), v_user)
    returning id into v_client_id;

    insert into crm.contacts (workspace_id, client_id, name, phone, email, is_primary)
    values (p_workspace_id, v_client_id, btrim(p_contact_name), nullif(btrim(p_contact_phone), ''),
            nullif(btrim(p_contact_email), ''), true)
    returning id into v_contact_id;
  exception when unique_violation then
    get stacked diagnostics v_constraint = constraint_name, v_message = message_text;
    if platform.violated_constraint(v_constraint, v_message) = 'unique_phone_workspace' then
      return crm.phone_taken(p_workspace_id, p_contact_phone);
    end if;
    raise;
  end;

  return jsonb_build_object('success', true, 'client_id', v_client_id, 'contact_id', v_contact_id);
end;
$$;

grant execute on function public.create_client_with_contact(uuid, text, text, text, text, text) to lockstep_api;

/*
 * list_clients(p_workspace_id, p_search, p_limit, p_offset) → {success, total, clients: [{client_id, name,
 * notes, created_at, primary_contact}]}: clients by name, paged. p_search matches the client's name
 * (case-insensitive substring) or, when it holds 3 or more digits, the digits of any of its contacts'
 * normalised phones, so '555 010' and '001 555' find '+1 (555) 010-0199'. Members only.
 * Refusals: workspace_not_found, invalid_paging.
 */
create or replace function public.list_clients(
  p_workspace_id uuid,
  p_search text default null,
  p_limit integer default 50,
  p_offset integer default 0)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_search text := nullif(btrim(p_search), '');
  v_digits text := nullif(regexp_replace(coalesce(p_search, ''), '[^0-9]', '', 'g'), '');
  v_pattern text;
  v_result jsonb;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_limit is null or p_limit not between 1 and 500 or p_offset is null or p_offset < 0 then
    return platform.refusal('invalid_paging', 'limit is 1 to 500 and offset is 0 or more');
  end if;
  if btrim(p_search) ~ '^00' then
    v_digits := substr(v_digits, 3); -- the international prefix, as crm.normalize_phone reads it
  end if;
  if length(v_digits) < 3 then
    v_digits := null;
  end if;
  v_pattern := '%' || replace(replace(replace(v_search, '\', '\\'), '%', '\%'), '_', '\_') || '%';

  with matching as (
    select cl.*
    from crm.clients cl
    where cl.workspace_id = p_workspace_id
      and (v_search is null
           or cl.name ilike v_pattern
           or (v_digits is not null and exists (
                 select 1 from crm.contacts ct
                 where ct.workspace_id = p_workspace_id and ct.client_id = cl.id
                   and ct.phone_e164 like '%' || v_digits || '%')))
  ), page as (
    select m.* from matching m order by lower(m.name), m.id limit p_limit offset p_offset
  )
  select jsonb_build_object(
    'success', true,
    'total', (select count(*) from matching),
    'clients', coalesce((
      select jsonb_agg(jsonb_build_object(
               'client_id', p.id, 'name', p.name, 'notes', p.notes, 'created_at', p.created_at,
               'primary_contact', (
                 select crm.contact_json(to_jsonb(ct)) from crm.contacts ct
                 where ct.workspace_id = p_workspace_id and ct.client_id = p.id and ct.is_primary))
             order by lower(p.name), p.id)
      from page p), '[]'::jsonb))
  into v_result;
  return v_result;
end;
$$;

grant execute on function public.list_clients(uuid, text, integer, integer) to lockstep_api;

/*
 * get_client(p_workspace_id, p_client_id) → {success, client_id, name, notes, created_at, contacts: [...]}:
 * one client with all its contacts, the primary first. Members only. Refusals: client_not_found.
 */
create or replace function public.get_client(p_workspace_id uuid, p_client_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_result jsonb;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  select jsonb_build_object(
    'success', true, 'client_id', cl.id, 'name', cl.name, 'notes', cl.notes, 'created_at', cl.created_at,
    'contacts', coalesce((
      select jsonb_agg(crm.contact_json(to_jsonb(ct)) order by ct.is_primary desc, ct.created_at, ct.id)
      from crm.contacts ct
      where ct.workspace_id = p_workspace_id and ct.client_id = cl.id), '[]'::jsonb))
  into v_result
  from crm.clients cl
  where cl.workspace_id = p_workspace_id and cl.id = p_client_id;
  return coalesce(v_result, platform.refusal('client_not_found', 'Client not found'));
end;
$$;

grant execute on function public.get_client(uuid, uuid) to lockstep_api;
