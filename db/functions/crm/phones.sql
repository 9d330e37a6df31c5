/*
 * crm.upsert_contact(workspace, phone, name) → {success, contact_id, created}: find-or-create by the
 * normalised phone, for server-side callers (webhooks) that already know the workspace. Two concurrent
 * calls for one new phone both return the same id: ON CONFLICT waits for the first insert to commit.
 * Refusals: invalid_phone, contact_name_required.
 */
create or replace function crm.upsert_contact(p_workspace_id uuid, p_phone text, p_name text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_e164 text := crm.normalize_phone(p_phone);
  v_contact_id uuid;
  v_created boolean := true;
begin
  if v_e164 is null then
    return crm.invalid_phone(p_phone);
  end if;
  if p_name is null or length(btrim(p_name)) = 0 then
    return platform.refusal('contact_name_required', 'A contact needs a name');
  end if;

  insert into crm.contacts (workspace_id, name, phone)
  values (p_workspace_id, left(btrim(p_name), 200), p_phone)
  on conflict (workspace_id, phone_e164) do nothing
  returning id into v_contact_id;

  if v_contact_id is null then
    v_created := false;
    select c.id into v_contact_id
    from crm.contacts c
    where c.workspace_id = p_workspace_id and c.phone_e164 = v_e164;
  end if;

  return jsonb_build_object('success', true, 'contact_id', v_contact_id, 'created', v_created);
end;
$$;

/*
 * crm.contact_by_phone(workspace, e164) → uuid: the contact with that normalised phone, null for none;
 * for server-side callers that must look before they write (leads' 24-hour window check).
 */
create or replace function crm.contact_by_phone(p_workspace_id uuid, p_e164 text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
begin
  return (select c.id from crm.contacts c where c.workspace_id = p_workspace_id and c.phone_e164 = p_e164);
end;
$$;

/*
 * upsert_contact_by_phone(p_workspace_id, p_phone, p_name) → {success, contact_id, created}: find-or-create
 * a contact by phone, members only. Refusals: workspace_not_found, invalid_phone, contact_name_required.
 */
create or replace function public.upsert_contact_by_phone(p_workspace_id uuid, p_phone text, p_name text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  return crm.upsert_contact(p_workspace_id, p_phone, p_name);
end;
$$;

grant execute on function public.upsert_contact_by_phone(uuid, text, text) to lockstep_api;

/*
 * crm.invalid_phone(phone) → jsonb: the invalid_phone refusal naming the offending value.
 */
create or replace function crm.invalid_phone(p_phone text)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select platform.refusal('invalid_phone', format(
    '%s is not a phone number with its country code (8 to 15 digits after + or 00)',
    coalesce(quote_literal(p_phone), 'An empty value')))
$$;

/*
 * crm.phone_taken(workspace, phone) → jsonb: the phone_taken refusal with the id of the contact that
 * already has this number.
 */
create or replace function crm.phone_taken(p_workspace_id uuid, p_phone text)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_e164 text := crm.normalize_phone(p_phone);
begin
  return platform.refusal('phone_taken', format('Another contact in this workspace already has %s', v_e164))
         || jsonb_build_object('contact_id', (
              select c.id from crm.contacts c
              where c.workspace_id = p_workspace_id and c.phone_e164 = v_e164));
end;
$$;
