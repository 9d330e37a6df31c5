-- CRM: clients and their contacts; one contact per phone per workspace, one primary contact per client.

create schema if not exists crm;

/*
 * crm.normalize_phone(text) → text: the E.164 form ('+' and 8 to 15 digits) of a phone number, or null
 * when the text cannot be one. Rules, kept few on purpose (no numbering-plan library is served here):
 *   1. spaces, dots, dashes, slashes and parentheses are ignored;
 *   2. the number must carry its country code: a leading '+', or the international prefix '00';
 *   3. anything else — a letter, a second '+', no country code — is not a phone number;
 *   4. 8 to 15 digits remain (E.164 allows at most 15).
 * So '+1 (555) 010-0199', '+1 555 010 0199', '001-555-010-0199' and '+15550100199' are one number.
 */
create or replace function crm.normalize_phone(p_phone text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case
    when digits ~ '^[0-9]{8,15}$' then '+' || digits
  end
  from (
    select case
      when stripped ~ '^\+[0-9]+$' then substr(stripped, 2)
      when stripped ~ '^00[0-9]+$' then substr(stripped, 3)
    end as digits
    from (select regexp_replace(btrim(p_phone), '[\s().\-/]', '', 'g') as stripped) s
  ) d
$$;

create table crm.clients (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 200),
  notes text check (length(notes) <= 10000),
  created_by uuid,
  created_at timestamptz not null default now(),
  primary key (workspace_id, id)
);

create table crm.contacts (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  client_id uuid,
  name text not null check (length(btrim(name)) between 1 and 200),
  phone text check (length(phone) <= 50),
  phone_e164 text generated always as (crm.normalize_phone(phone)) stored,
  email text check (email is null or (length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$')),
  is_primary boolean not null default false,
  created_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, client_id) references crm.clients (workspace_id, id) on delete cascade,
  constraint contacts_phone_valid check (phone is null or phone_e164 is not null),
  constraint contacts_primary_needs_client check (not is_primary or client_id is not null),
  constraint unique_phone_workspace unique (workspace_id, phone_e164)
);

-- At most one primary contact per client: the index, not application logic, makes a second one impossible.
create unique index contacts_one_primary_per_client on crm.contacts (workspace_id, client_id) where is_primary;
create index contacts_client_idx on crm.contacts (workspace_id, client_id);
-- The seed-compatible functions find a client or contact by id alone (id-only signatures).
create index clients_id_idx on crm.clients (id);
create index contacts_id_idx on crm.contacts (id);

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
 * upsert_contact_by_phone(p_workspace_id, p_phone, p_name) → {success, contact_id, created}: find-or-create
 * a contact by phone, members only. Refusals: workspace_not_found, invalid_phone, contact_name_required.
 */
create or replace function public.upsert_contact_by_phone(p_workspace_id uuid, p_phone text, p_name text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  return crm.upsert_contact(p_workspace_id, p_phone, p_name);
end;
$$;

grant execute on function public.upsert_contact_by_phone(uuid, text, text) to public;

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
 * crm.check_contact(name, phone, email) → jsonb: the first refusal a new contact's values earn, or null
 * when they are acceptable. A blank phone or email counts as none.
 * Refusals: contact_name_required, contact_name_too_long, invalid_phone, invalid_email.
 */
create or replace function crm.check_contact(p_name text, p_phone text, p_email text)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case
    when p_name is null or length(btrim(p_name)) = 0
      then platform.refusal('contact_name_required', 'A contact needs a name')
    when length(btrim(p_name)) > 200
      then platform.refusal('contact_name_too_long', 'A contact name has at most 200 characters')
    when nullif(btrim(p_phone), '') is not null
         and (length(btrim(p_phone)) > 50 or crm.normalize_phone(p_phone) is null)
      then crm.invalid_phone(p_phone)
    when nullif(btrim(p_email), '') is not null
         and (length(btrim(p_email)) > 254 or btrim(p_email) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$')
      then platform.refusal('invalid_email', format('%s is not an email address', quote_literal(p_email)))
  end
$$;

/*
 * crm.phone_taken(workspace, phone) → jsonb: the phone_taken refusal with the id of the contact that
 * already has this number.
 */
create or replace function crm.phone_taken(p_workspace_id uuid, p_phone text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select platform.refusal('phone_taken', format('Another contact in this workspace already has %s', crm.normalize_phone(p_phone)))
         || jsonb_build_object('contact_id', (
              select c.id from crm.contacts c
              where c.workspace_id = p_workspace_id and c.phone_e164 = crm.normalize_phone(p_phone)))
$$;

/*
 * crm.contact_json(contact) → jsonb: a contact as the API shows it.
 */
create or replace function crm.contact_json(c crm.contacts)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'contact_id', c.id, 'client_id', c.client_id, 'name', c.name, 'phone', c.phone,
    'phone_e164', c.phone_e164, 'email', c.email, 'is_primary', c.is_primary, 'created_at', c.created_at)
$$;

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
  v_refusal jsonb;
  v_client_id uuid;
  v_contact_id uuid;
  v_constraint text;
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
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
    values (p_workspace_id, btrim(p_client_name), nullif(p_client_notes, ''), auth.uid())
    returning id into v_client_id;

    insert into crm.contacts (workspace_id, client_id, name, phone, email, is_primary)
    values (p_workspace_id, v_client_id, btrim(p_contact_name), nullif(btrim(p_contact_phone), ''),
            nullif(btrim(p_contact_email), ''), true)
    returning id into v_contact_id;
  exception when unique_violation then
    get stacked diagnostics v_constraint = constraint_name;
    if v_constraint = 'unique_phone_workspace' then
      return crm.phone_taken(p_workspace_id, p_contact_phone);
    end if;
    raise;
  end;

  return jsonb_build_object('success', true, 'client_id', v_client_id, 'contact_id', v_contact_id);
end;
$$;

grant execute on function public.create_client_with_contact(uuid, text, text, text, text, text) to public;

/*
 * add_contact(p_workspace_id, p_client_id, p_name, p_phone, p_email, p_is_primary) → {success, contact_id}:
 * a contact, of a client or (p_client_id null) on its own; as primary it replaces the client's primary.
 * Members only. Refusals: workspace_not_found, client_not_found, primary_needs_client,
 * contact_name_required, contact_name_too_long, invalid_phone, invalid_email, phone_taken (with contact_id).
 */
create or replace function public.add_contact(
  p_workspace_id uuid,
  p_client_id uuid,
  p_name text,
  p_phone text default null,
  p_email text default null,
  p_is_primary boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_refusal jsonb;
  v_contact_id uuid;
  v_constraint text;
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if coalesce(p_is_primary, false) and p_client_id is null then
    return platform.refusal('primary_needs_client', 'Only a client''s contact can be its primary contact');
  end if;
  v_refusal := crm.check_contact(p_name, p_phone, p_email);
  if v_refusal is not null then
    return v_refusal;
  end if;
  if p_client_id is not null then
    -- The client row lock serialises every change of this client's primary contact.
    perform 1 from crm.clients c where c.workspace_id = p_workspace_id and c.id = p_client_id for update;
    if not found then
      return platform.refusal('client_not_found', 'Client not found');
    end if;
  end if;

  begin
    if coalesce(p_is_primary, false) then
      update crm.contacts set is_primary = false
      where workspace_id = p_workspace_id and client_id = p_client_id and is_primary;
    end if;
    insert into crm.contacts (workspace_id, client_id, name, phone, email, is_primary)
    values (p_workspace_id, p_client_id, btrim(p_name), nullif(btrim(p_phone), ''), nullif(btrim(p_email), ''),
            coalesce(p_is_primary, false))
    returning id into v_contact_id;
  exception when unique_violation then
    get stacked diagnostics v_constraint = constraint_name;
    if v_constraint = 'unique_phone_workspace' then
      return crm.phone_taken(p_workspace_id, p_phone);
    end if;
    raise;
  end;

  return jsonb_build_object('success', true, 'contact_id', v_contact_id, 'client_id', p_client_id,
                            'is_primary', coalesce(p_is_primary, false));
end;
$$;

grant execute on function public.add_contact(uuid, uuid, text, text, text, boolean) to public;

/*
 * set_primary_contact(p_client_id, p_contact_id, p_workspace_id) → {success, client_id, contact_id}: makes
 * one of a client's contacts its primary. p_workspace_id is optional (the seed's signature had none);
 * given, it must be the client's workspace, and the call stays on that workspace's rows.
 * Members only. Refusals: client_not_found, contact_not_found.
 */
create or replace function public.set_primary_contact(p_client_id uuid, p_contact_id uuid, p_workspace_id uuid default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := p_workspace_id;
begin
  if v_workspace_id is null then
    select c.workspace_id into v_workspace_id from crm.clients c where c.id = p_client_id;
  end if;
  if v_workspace_id is null or platform.member_role(v_workspace_id, auth.uid()) is null then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  -- Concurrent swaps on one client queue here; each then sees the previous one's primary.
  perform 1 from crm.clients c where c.workspace_id = v_workspace_id and c.id = p_client_id for update;
  if not found then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  perform 1 from crm.contacts c
  where c.workspace_id = v_workspace_id and c.client_id = p_client_id and c.id = p_contact_id;
  if not found then
    return platform.refusal('contact_not_found', 'That contact does not belong to this client');
  end if;

  -- Demote first, then promote: the partial unique index never sees two primaries.
  update crm.contacts set is_primary = false
  where workspace_id = v_workspace_id and client_id = p_client_id and is_primary and id <> p_contact_id;
  update crm.contacts set is_primary = true
  where workspace_id = v_workspace_id and client_id = p_client_id and id = p_contact_id and not is_primary;

  return jsonb_build_object('success', true, 'client_id', p_client_id, 'contact_id', p_contact_id);
end;
$$;

grant execute on function public.set_primary_contact(uuid, uuid, uuid) to public;

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
  v_search text := nullif(btrim(p_search), '');
  v_digits text := nullif(regexp_replace(coalesce(p_search, ''), '[^0-9]', '', 'g'), '');
  v_pattern text;
  v_result jsonb;
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
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
                 select crm.contact_json(ct) from crm.contacts ct
                 where ct.workspace_id = p_workspace_id and ct.client_id = p.id and ct.is_primary))
             order by lower(p.name), p.id)
      from page p), '[]'::jsonb))
  into v_result;
  return v_result;
end;
$$;

grant execute on function public.list_clients(uuid, text, integer, integer) to public;

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
  v_result jsonb;
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  select jsonb_build_object(
    'success', true, 'client_id', cl.id, 'name', cl.name, 'notes', cl.notes, 'created_at', cl.created_at,
    'contacts', coalesce((
      select jsonb_agg(crm.contact_json(ct) order by ct.is_primary desc, ct.created_at, ct.id)
      from crm.contacts ct
      where ct.workspace_id = p_workspace_id and ct.client_id = cl.id), '[]'::jsonb))
  into v_result
  from crm.clients cl
  where cl.workspace_id = p_workspace_id and cl.id = p_client_id;
  return coalesce(v_result, platform.refusal('client_not_found', 'Client not found'));
end;
$$;

grant execute on function public.get_client(uuid, uuid) to public;

/*
 * import_contacts(p_workspace_id, p_rows) → {success, created, existing, rejected, rows: [{row, outcome,
 * contact_id?, code?, error?}]}: find-or-create one contact per row of a jsonb array of {name, phone,
 * email}; rows are numbered from 1. A row is created, existing (a contact already has that phone: its id)
 * or rejected (with the code add_contact would give, phone_required without a phone). Each row runs in
 * its own block, so a bad row never drops a good one; re-running the same rows creates nothing new.
 * Members only. Refusals: workspace_not_found, rows_required, too_many_rows (over 50,000).
 */
create or replace function public.import_contacts(p_workspace_id uuid, p_rows jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row jsonb;
  v_index integer := 0;
  v_name text;
  v_phone text;
  v_email text;
  v_refusal jsonb;
  v_contact_id uuid;
  v_outcomes jsonb[] := '{}';
  v_created integer := 0;
  v_existing integer := 0;
  v_rejected integer := 0;
begin
  if platform.member_role(p_workspace_id, auth.uid()) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_rows is null or jsonb_typeof(p_rows) <> 'array' then
    return platform.refusal('rows_required', 'Send the rows as an array of {name, phone, email}');
  end if;
  if jsonb_array_length(p_rows) > 50000 then
    return platform.refusal('too_many_rows', 'An import takes at most 50,000 rows; split the file');
  end if;

  for v_row in select value from jsonb_array_elements(p_rows)
  loop
    v_index := v_index + 1;
    v_refusal := null;
    v_contact_id := null;
    if jsonb_typeof(v_row) <> 'object' then
      v_refusal := platform.refusal('invalid_row', 'A row is an object with name, phone and email');
    else
      v_name := v_row ->> 'name';
      v_phone := nullif(btrim(v_row ->> 'phone'), '');
      v_email := v_row ->> 'email';
      if v_phone is null then
        -- Without a phone a row cannot be recognised on a second run, so it would be created twice.
        v_refusal := platform.refusal('phone_required', 'An imported contact needs a phone number');
      else
        v_refusal := crm.check_contact(v_name, v_phone, v_email);
      end if;
    end if;

    if v_refusal is null then
      begin
        insert into crm.contacts (workspace_id, name, phone, email)
        values (p_workspace_id, btrim(v_name), v_phone, nullif(btrim(v_email), ''))
        on conflict (workspace_id, phone_e164) do nothing
        returning id into v_contact_id;
        if v_contact_id is not null then
          v_created := v_created + 1;
          v_outcomes[v_index] := jsonb_build_object('row', v_index, 'outcome', 'created', 'contact_id', v_contact_id);
        else
          select c.id into v_contact_id from crm.contacts c
          where c.workspace_id = p_workspace_id and c.phone_e164 = crm.normalize_phone(v_phone);
          v_existing := v_existing + 1;
          v_outcomes[v_index] := jsonb_build_object('row', v_index, 'outcome', 'existing', 'contact_id', v_contact_id);
        end if;
      exception when integrity_constraint_violation or data_exception then
        v_refusal := platform.refusal('invalid_row', 'The row breaks a rule of the data: ' || sqlerrm);
      end;
    end if;

    if v_refusal is not null then
      v_rejected := v_rejected + 1;
      v_outcomes[v_index] := jsonb_build_object('row', v_index, 'outcome', 'rejected',
        'code', v_refusal ->> 'code', 'error', v_refusal ->> 'error');
    end if;
  end loop;

  return jsonb_build_object('success', true, 'created', v_created, 'existing', v_existing,
                            'rejected', v_rejected, 'rows', to_jsonb(v_outcomes));
end;
$$;

grant execute on function public.import_contacts(uuid, jsonb) to public;
