/*
 * leads.lock_customer(workspace, e164): serialises everything that finds-or-creates the conversation of
 * one customer (webhook deliveries, new leads), so two deliveries never both create a lead.
 */
create or replace function leads.lock_customer(p_workspace_id uuid, p_e164 text)
returns void
language sql
set search_path = ''
as $$
  select pg_advisory_xact_lock(hashtextextended('leads.customer:' || p_workspace_id::text || ':' || p_e164, 0))
$$;

/*
 * create_lead_with_conversation(p_workspace_id, p_customer_phone, p_customer_name, p_lead_type, p_details,
 * p_conversation_status, p_lead_status) → {success, lead_id, conversation_id, contact_id}: finds or
 * creates the contact by normalised phone (crm.upsert_contact) and creates the lead and its conversation
 * together; every check runs before the first write, so a refusal leaves no row. The lead's owner is
 * the caller (auth.uid()).
 * Refusals: workspace_not_found, phone_required, invalid_phone, customer_name_required,
 * invalid_lead_type, invalid_lead_status, invalid_conversation_status, details_too_long.
 */
create or replace function public.create_lead_with_conversation(
  p_workspace_id uuid,
  p_customer_phone text,
  p_customer_name text,
  p_lead_type text,
  p_details text default null,
  p_conversation_status text default 'active',
  p_lead_status text default 'new')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_e164 text;
  v_contact jsonb;
  v_contact_id uuid;
  v_lead_id uuid;
  v_conversation_id uuid;
begin
  if platform.member_role(p_workspace_id, v_user) is null then
    return platform.refusal('workspace_not_found', 'Workspace not found');
  end if;
  if p_customer_phone is null or length(btrim(p_customer_phone)) = 0 then
    return platform.refusal('phone_required', 'A lead needs the customer''s phone number');
  end if;
  v_e164 := crm.normalize_phone(p_customer_phone);
  if v_e164 is null then
    return crm.invalid_phone(p_customer_phone);
  end if;
  if p_customer_name is null or length(btrim(p_customer_name)) = 0 then
    return platform.refusal('customer_name_required', 'A lead needs the customer''s name');
  end if;
  if p_lead_type is null or p_lead_type not in ('order', 'inquiry', 'booking', 'support', 'other') then
    return platform.refusal('invalid_lead_type', format('Lead type %L is not one of order, inquiry, booking, support, other', p_lead_type));
  end if;
  if p_lead_status is null or p_lead_status not in ('new', 'contacted', 'qualified', 'won', 'lost') then
    return platform.refusal('invalid_lead_status', format('Lead status %L is not one of new, contacted, qualified, won, lost', p_lead_status));
  end if;
  if p_conversation_status is null or p_conversation_status not in ('active', 'pending', 'closed') then
    return platform.refusal('invalid_conversation_status', format('Conversation status %L is not one of active, pending, closed', p_conversation_status));
  end if;
  if length(p_details) > 10000 then
    return platform.refusal('details_too_long', 'Lead details have at most 10000 characters');
  end if;

  perform leads.lock_customer(p_workspace_id, v_e164);
  v_contact := crm.upsert_contact(p_workspace_id, v_e164, p_customer_name);
  if not (v_contact ->> 'success')::boolean then
    -- Checked above; reached only if CRM's rules grow stricter. Raise so nothing stays written.
    raise exception 'crm.upsert_contact refused: %', v_contact ->> 'code' using errcode = '22023';
  end if;
  v_contact_id := (v_contact ->> 'contact_id')::uuid;

  insert into leads.leads (workspace_id, contact_id, type, status, details, created_by, assigned_to)
  values (p_workspace_id, v_contact_id, p_lead_type, p_lead_status, nullif(btrim(p_details), ''), v_user, v_user)
  returning id into v_lead_id;

  insert into leads.conversations (workspace_id, contact_id, lead_id, status)
  values (p_workspace_id, v_contact_id, v_lead_id, p_conversation_status)
  returning id into v_conversation_id;

  return jsonb_build_object('success', true, 'lead_id', v_lead_id, 'conversation_id', v_conversation_id,
    'contact_id', v_contact_id);
end;
$$;

grant execute on function public.create_lead_with_conversation(uuid, text, text, text, text, text, text) to lockstep_api;

/*
 * list_leads(p_workspace_id, p_status, p_limit, p_before) → {success, leads: [...], next_before}: newest
 * first, p_limit (1..200) at a time (db/functions/platform/paging.sql); members only.
 * Refusals: workspace_not_found, invalid_limit, invalid_cursor.
 */
create or replace function public.list_leads(
  p_workspace_id uuid, p_status text default null, p_limit integer default 50, p_before text default null)
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
             'leads', coalesce(jsonb_agg(jsonb_build_object(
               'lead_id', l.id, 'contact_id', l.contact_id, 'type', l.type, 'status', l.status,
               'details', l.details, 'source', l.source, 'created_by', l.created_by,
               'assigned_to', l.assigned_to, 'created_at', l.created_at)
               order by l.n) filter (where l.n <= p_limit), '[]'::jsonb),
             'next_before', case when count(*) > p_limit
               then max(platform.page_cursor(l.created_at, l.id::text)) filter (where l.n = p_limit) end)
    from (
      select l.*, row_number() over (order by l.created_at desc, l.id desc) as n
      from leads.leads l
      where l.workspace_id = p_workspace_id and (p_status is null or l.status = p_status)
        and (l.created_at, l.id) < (v_before_at, v_before_id)
      order by l.created_at desc, l.id desc
      limit p_limit + 1) l);
end;
$$;

grant execute on function public.list_leads(uuid, text, integer, text) to lockstep_api;
