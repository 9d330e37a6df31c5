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
    return platform.refusal('invalid_phone', format('%s is not a phone number with its country code (8 to 15 digits after + or 00)', coalesce(quote_literal(p_phone), 'An empty value')));
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
