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
 * crm.contact_json(p_contact) → jsonb: a contact as the API shows it, from the contact row as jsonb
 * (to_jsonb(c)). It takes jsonb, not the row type: a helper of a table's row type has no counterpart for
 * the shards' row types.
 */
create or replace function crm.contact_json(p_contact jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'contact_id', p_contact -> 'id', 'client_id', p_contact -> 'client_id', 'name', p_contact -> 'name',
    'phone', p_contact -> 'phone', 'phone_e164', p_contact -> 'phone_e164', 'email', p_contact -> 'email',
    'is_primary', p_contact -> 'is_primary', 'created_at', p_contact -> 'created_at')
$$;

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
  v_user uuid := auth.uid();
  v_refusal jsonb;
  v_contact_id uuid;
  v_constraint text;
  v_message text;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
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
    get stacked diagnostics v_constraint = constraint_name, v_message = message_text;
    if platform.violated_constraint(v_constraint, v_message) = 'unique_phone_workspace' then
      return crm.phone_taken(p_workspace_id, p_phone);
    end if;
    raise;
  end;

  return jsonb_build_object('success', true, 'contact_id', v_contact_id, 'client_id', p_client_id,
                            'is_primary', coalesce(p_is_primary, false));
end;
$$;

grant execute on function public.add_contact(uuid, uuid, text, text, text, boolean) to lockstep_api;

/*
 * set_primary_contact(p_workspace_id, p_client_id, p_contact_id) → {success, client_id, contact_id}: makes
 * one of a client's contacts its primary. Members only. Refusals: client_not_found (also another
 * workspace's client), contact_not_found.
 */
create or replace function public.set_primary_contact(p_workspace_id uuid, p_client_id uuid, p_contact_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  -- Concurrent swaps on one client queue here; each then sees the previous one's primary.
  perform 1 from crm.clients c where c.workspace_id = p_workspace_id and c.id = p_client_id for update;
  if not found then
    return platform.refusal('client_not_found', 'Client not found');
  end if;
  perform 1 from crm.contacts c
  where c.workspace_id = p_workspace_id and c.client_id = p_client_id and c.id = p_contact_id;
  if not found then
    return platform.refusal('contact_not_found', 'That contact does not belong to this client');
  end if;

  -- Demote first, then promote: the partial unique index never sees two primaries.
  update crm.contacts set is_primary = false
  where workspace_id = p_workspace_id and client_id = p_client_id and is_primary and id <> p_contact_id;
  update crm.contacts set is_primary = true
  where workspace_id = p_workspace_id and client_id = p_client_id and id = p_contact_id and not is_primary;

  return jsonb_build_object('success', true, 'client_id', p_client_id, 'contact_id', p_contact_id);
end;
$$;

grant execute on function public.set_primary_contact(uuid, uuid, uuid) to lockstep_api;

/*
 * set_primary_contact(p_client_id, p_contact_id) → {success, client_id, contact_id}: the seed's form of
 * set_primary_contact(p_workspace_id, p_client_id, p_contact_id), the client's workspace looked up first
 * (on Citus, across every shard).
 */
create or replace function public.set_primary_contact(p_client_id uuid, p_contact_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid;
begin
  select c.workspace_id into v_workspace_id from crm.clients c where c.id = p_client_id;
  return public.set_primary_contact(v_workspace_id, p_client_id, p_contact_id);
end;
$$;

grant execute on function public.set_primary_contact(uuid, uuid) to lockstep_api;

/*
 * import_contacts(p_workspace_id, p_rows) → {success, created, existing, rejected, rows: [{row, outcome,
 * contact_id?, code?, error?}]}: find-or-create one contact per row of a jsonb array of {name, phone,
 * email}; rows are numbered from 1. A row is created, existing (a contact already has that phone, or an
 * earlier row of the file: its id) or rejected (with the code add_contact would give, phone_required
 * without a phone, invalid_row for an element that is not an object); a bad row never drops a good one;
 * re-running the same rows creates nothing new.
 * Set-wise, in a few statements whatever the number of rows: a subtransaction per row (an exception
 * block in a loop) would overflow every backend's snapshot subxid cache past 64 of them.
 * Members only. Refusals: workspace_not_found, rows_required, too_many_rows (over 50,000).
 */
create or replace function public.import_contacts(p_workspace_id uuid, p_rows jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  -- Per row, in file order: why it is refused, or else its E.164 form and values.
  v_refusal jsonb[];
  v_e164 text[];
  v_name text[];
  v_phone text[];
  v_email text[];
  -- E.164 → contact id: those this import created, and those of every acceptable row.
  v_created jsonb;
  v_found jsonb;
  v_result jsonb;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_rows is null or jsonb_typeof(p_rows) <> 'array' then
    return platform.refusal('rows_required', 'Send the rows as an array of {name, phone, email}');
  end if;
  if jsonb_array_length(p_rows) > 50000 then
    return platform.refusal('too_many_rows', 'An import takes at most 50,000 rows; split the file');
  end if;

  select array_agg(c.refusal order by c.ord),
         array_agg(case when c.refusal is null then crm.normalize_phone(c.phone) end order by c.ord),
         array_agg(btrim(c.name) order by c.ord), array_agg(c.phone order by c.ord),
         array_agg(nullif(btrim(c.email), '') order by c.ord)
  into v_refusal, v_e164, v_name, v_phone, v_email
  from (
    select r.*,
           case
             when not r.is_object
               then platform.refusal('invalid_row', 'A row is an object with name, phone and email')
             -- Without a phone a row cannot be recognised on a second run, so it would be created twice.
             when r.phone is null
               then platform.refusal('phone_required', 'An imported contact needs a phone number')
             else crm.check_contact(r.name, r.phone, r.email)
           end as refusal
    from (
      select e.ord, jsonb_typeof(e.value) = 'object' as is_object, e.value ->> 'name' as name,
             nullif(btrim(e.value ->> 'phone'), '') as phone, e.value ->> 'email' as email
      from jsonb_array_elements(p_rows) with ordinality as e(value, ord)
    ) r
  ) c;

  -- The first acceptable row of each phone is inserted, in phone order: two imports of overlapping
  -- phones then wait for each other in one direction only and never deadlock.
  with inserted as (
    insert into crm.contacts (workspace_id, name, phone, email)
    select p_workspace_id, f.name, f.phone, f.email
    from (
      select distinct on (u.e164) u.e164, u.name, u.phone, u.email
      from unnest(v_e164, v_name, v_phone, v_email) with ordinality as u(e164, name, phone, email, ord)
      where u.e164 is not null
      order by u.e164, u.ord
    ) f
    order by f.e164
    on conflict (workspace_id, phone_e164) do nothing
    returning phone_e164, id
  )
  select coalesce(jsonb_object_agg(i.phone_e164, i.id), '{}'::jsonb) into v_created from inserted i;

  -- A statement of its own: its snapshot sees the contacts a concurrent import committed while the
  -- insert above waited for it.
  select coalesce(jsonb_object_agg(c.phone_e164, c.id), '{}'::jsonb) into v_found
  from crm.contacts c
  where c.workspace_id = p_workspace_id
    and c.phone_e164 = any (array(select distinct u.e164 from unnest(v_e164) as u(e164) where u.e164 is not null));

  select jsonb_build_object('success', true,
           'created', count(*) filter (where a.outcome = 'created'),
           'existing', count(*) filter (where a.outcome = 'existing'),
           'rejected', count(*) filter (where a.outcome = 'rejected'),
           'rows', coalesce(jsonb_agg(
             case when a.outcome = 'rejected'
               then jsonb_build_object('row', a.ord, 'outcome', a.outcome, 'code', a.refusal ->> 'code', 'error', a.refusal ->> 'error')
               else jsonb_build_object('row', a.ord, 'outcome', a.outcome, 'contact_id', v_found -> a.e164)
             end order by a.ord), '[]'::jsonb))
  into v_result
  from (
    select u.ord, u.e164, u.refusal,
           case
             when u.refusal is not null then 'rejected'
             when u.ord = min(u.ord) over (partition by u.e164) and v_created ? u.e164 then 'created'
             else 'existing'
           end as outcome
    from unnest(v_e164, v_refusal) with ordinality as u(e164, refusal, ord)
  ) a;

  return v_result;
end;
$$;

grant execute on function public.import_contacts(uuid, jsonb) to lockstep_api;
