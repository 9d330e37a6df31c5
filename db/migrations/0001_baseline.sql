-- The baseline: every schema, role and table of Lockstep, squashed on 2026-12-01 from the first eight
-- migrations (0001_platform_workspaces … 0008_platform_audit). Functions, trigger functions, triggers
-- and grants are not here: their current text is in db/functions/ (see db/README.md). What stays here
-- is what a table depends on: crm.normalize_phone, which computes the stored column contacts.phone_e164.
--
-- Tenant rules (tests/Lockstep.Tests/Platform/TenantKeyRulesTests reads the catalog and fails on a
-- table that breaks them):
--   * a tenant table has a workspace_id column and its primary key starts with it;
--   * a foreign key to a tenant table includes workspace_id, so a row never points into another workspace;
--   * every unique constraint or unique index of a tenant table includes workspace_id.

create schema if not exists auth;
create schema if not exists platform;
create schema if not exists crm;
create schema if not exists leads;
create schema if not exists sessions;
create schema if not exists gifts;

-- Least privilege. The server serves requests as the role lockstep_api, which may only EXECUTE the
-- exposed functions (schema public) and the few server-only functions its background workers and
-- webhook call; it holds no privilege on any table, so no code path, bug or injected SQL in the server
-- can write (or read) a row except through the atomic functions. Migrations and definitions run as the
-- owner, who owns every table and function; the security definer functions run as that owner.
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'lockstep_api') then
    create role lockstep_api nologin;
  end if;
end
$$;

-- On a configured database without a dedicated login the owner switches to the role for serving
-- (Options=-c role=lockstep_api; the embedded cluster logs in as lockstep_api itself); a non-superuser owner
-- needs membership for that.
grant lockstep_api to current_user;

-- No function is executable by PUBLIC: each definition file grants lockstep_api what it may call.
alter default privileges revoke execute on functions from public;

grant usage on schema leads, sessions, platform to lockstep_api;

-- Platform: workspaces and their members.

create table platform.workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 200),
  created_by uuid not null,
  created_at timestamptz not null default now()
);

create table platform.members (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  user_id uuid not null,
  role text not null check (role in ('owner', 'admin', 'member')),
  display_name text check (display_name is null or length(display_name) <= 200),
  created_at timestamptz not null default now(),
  primary key (workspace_id, user_id)
);

create index members_user_idx on platform.members (user_id);

-- CRM: clients and their contacts; one contact per phone per workspace, one primary contact per client.

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

-- Leads: leads and their WhatsApp conversations and messages; the WhatsApp connection of a workspace;
-- the outbox of messages to send. Contacts come from CRM (crm.upsert_contact, by normalised phone).

create table leads.leads (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  contact_id uuid not null,
  type text not null constraint leads_type_valid check (type in ('order', 'inquiry', 'booking', 'support', 'other')),
  status text not null default 'new' constraint leads_status_valid check (status in ('new', 'contacted', 'qualified', 'won', 'lost')),
  details text check (length(details) <= 10000),
  source text not null default 'manual' check (source in ('manual', 'whatsapp')),
  -- The caller from the token (auth.uid()), never a client-supplied id; null for leads the webhook created.
  created_by uuid,
  assigned_to uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, contact_id) references crm.contacts (workspace_id, id)
);

create index leads_contact_idx on leads.leads (workspace_id, contact_id);

create index leads_created_idx on leads.leads (workspace_id, created_at desc);

create table leads.conversations (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  contact_id uuid not null,
  lead_id uuid,
  status text not null default 'active' constraint conversations_status_valid check (status in ('active', 'pending', 'closed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_message_at timestamptz,
  primary key (workspace_id, id),
  foreign key (workspace_id, contact_id) references crm.contacts (workspace_id, id),
  foreign key (workspace_id, lead_id) references leads.leads (workspace_id, id) on delete cascade
);

create index conversations_contact_idx on leads.conversations (workspace_id, contact_id, last_message_at desc);

create index conversations_lead_idx on leads.conversations (workspace_id, lead_id);

create table leads.messages (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  conversation_id uuid not null,
  direction text not null check (direction in ('in', 'out')),
  body text not null check (length(body) <= 4096),
  wa_message_id text check (length(wa_message_id) <= 200),
  status text not null constraint messages_status_valid
    check (status in ('received', 'queued', 'sent', 'delivered', 'read', 'failed')),
  error text,
  sent_by uuid,
  wa_timestamp timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  sent_at timestamptz,
  delivered_at timestamptz,
  read_at timestamptz,
  failed_at timestamptz,
  primary key (workspace_id, id),
  foreign key (workspace_id, conversation_id) references leads.conversations (workspace_id, id) on delete cascade,
  -- A redelivered webhook carries the same message id: this is what makes it store nothing new.
  constraint messages_wa_message_id_unique unique (workspace_id, wa_message_id)
);

create index messages_conversation_idx on leads.messages (workspace_id, conversation_id, created_at);

/*
 * One WhatsApp Business phone number per workspace. A phone number id must belong to one workspace
 * only, but the tenant rules put workspace_id in every unique index; so the table holds it unique per
 * workspace and leads.store_whatsapp_connection enforces the global rule under an advisory lock on the
 * id (every writer goes through it). The access token is never returned by a callable function.
 */
create table leads.whatsapp_connections (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  phone_number_id text not null check (phone_number_id ~ '^[0-9]{1,32}$'),
  access_token text not null check (length(access_token) between 1 and 4096),
  connected_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, id),
  constraint whatsapp_connections_one_per_workspace unique (workspace_id),
  constraint whatsapp_connections_phone_number_unique unique (workspace_id, phone_number_id)
);

create index whatsapp_connections_phone_number_idx on leads.whatsapp_connections (phone_number_id);

/*
 * Messages waiting to be sent by the worker, written in the same transaction as the message. A row is
 * claimed for a lease (claimed_until) with FOR UPDATE SKIP LOCKED, so two server instances never take
 * the same row; done_at marks it finished (sent or given up).
 */
create table leads.outbox (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  message_id uuid not null,
  recipient text not null,
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  claimed_until timestamptz,
  last_error text,
  done_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, message_id) references leads.messages (workspace_id, id) on delete cascade,
  constraint outbox_one_per_message unique (workspace_id, message_id)
);

create index outbox_due_idx on leads.outbox (next_attempt_at) where done_at is null;

-- Sessions: session packs (purchases) and bookings; race-free use and reinstate of a session,
-- completion that consumes a session exactly once, and server-only auto-completion of past bookings.
--
-- A counter moves only in one conditional update ... returning: two tabs using the last session at
-- once get one true and one false, never sessions_used past sessions_total (the CHECK is the backstop).

create table sessions.purchases (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  client_id uuid not null,
  sessions_total integer not null constraint purchases_sessions_total_positive check (sessions_total > 0),
  sessions_used integer not null default 0,
  price numeric(12, 2) constraint purchases_price_not_negative check (price >= 0),
  purchased_at timestamptz not null default now(),
  expires_at timestamptz,
  created_by uuid,
  primary key (workspace_id, id),
  foreign key (workspace_id, client_id) references crm.clients (workspace_id, id) on delete cascade,
  -- Lets a booking's foreign key say "a pack of this same client".
  constraint purchases_client_pack unique (workspace_id, client_id, id),
  constraint purchases_sessions_used_range check (sessions_used between 0 and sessions_total)
);

-- The seed's functions find a pack by its id alone.
create index purchases_id_idx on sessions.purchases (id);

create table sessions.bookings (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  client_id uuid not null,
  purchase_id uuid,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  status text not null default 'scheduled'
    constraint bookings_status_valid check (status in ('scheduled', 'completed', 'cancelled', 'no_show')),
  session_consumed boolean not null default false,
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, client_id) references crm.clients (workspace_id, id) on delete cascade,
  -- A booking draws on a pack of its own client (null purchase_id: no pack, nothing checked).
  constraint bookings_purchase_of_client foreign key (workspace_id, client_id, purchase_id)
    references sessions.purchases (workspace_id, client_id, id),
  constraint bookings_time_order check (starts_at < ends_at),
  constraint bookings_consumed_needs_purchase check (not session_consumed or purchase_id is not null)
);

create index bookings_id_idx on sessions.bookings (id);

create index bookings_client_idx on sessions.bookings (workspace_id, client_id, starts_at);

create index bookings_calendar_idx on sessions.bookings (workspace_id, starts_at);

create index bookings_purchase_idx on sessions.bookings (workspace_id, purchase_id) where purchase_id is not null;

-- Auto-completion scans only what is still scheduled.
create index bookings_due_idx on sessions.bookings (ends_at) where status = 'scheduled';

-- Gifts: a gift group is a workspace. A member (the celebrant) keeps wishlists; the other members claim
-- items alone (full) or split them; pledges add up to the item's total exactly, a pledge once made cannot
-- be deleted, and the celebrant never learns who gives what. Notifications are written by triggers in the
-- same transaction as the claim that causes them and announced with NOTIFY for the live stream.

create table gifts.wishlists (
  workspace_id uuid not null references platform.workspaces (id),
  id uuid not null default gen_random_uuid(),
  celebrant_id uuid not null,
  title text not null check (length(btrim(title)) between 1 and 200),
  created_at timestamptz not null default now(),
  primary key (workspace_id, id)
);

create table gifts.wishlist_items (
  workspace_id uuid not null references platform.workspaces (id),
  id uuid not null default gen_random_uuid(),
  wishlist_id uuid not null,
  title text not null check (length(btrim(title)) between 1 and 200),
  price numeric(12, 2) not null constraint wishlist_items_price_positive check (price > 0),
  additional_costs numeric(12, 2) not null default 0
    constraint wishlist_items_additional_costs_nonnegative check (additional_costs >= 0),
  link text check (link is null or length(link) <= 2000),
  notes text check (notes is null or length(notes) <= 2000),
  created_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, wishlist_id) references gifts.wishlists (workspace_id, id)
);

create index wishlist_items_wishlist_idx on gifts.wishlist_items (workspace_id, wishlist_id);

-- One row per member and item. is_claimer marks the member who claimed the item (a full claim, or the
-- organiser of a split); the other split rows are contributors' pledges.
create table gifts.gift_claims (
  workspace_id uuid not null references platform.workspaces (id),
  id uuid not null default gen_random_uuid(),
  item_id uuid not null,
  claimer_id uuid not null,
  claim_type text not null check (claim_type in ('full', 'split')),
  amount numeric(12, 2) not null default 0 constraint gift_claims_amount_nonnegative check (amount >= 0),
  is_claimer boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, id),
  foreign key (workspace_id, item_id) references gifts.wishlist_items (workspace_id, id),
  constraint gift_claims_one_per_member unique (workspace_id, item_id, claimer_id),
  constraint gift_claims_full_is_claimer check (claim_type = 'split' or is_claimer)
);

create unique index gift_claims_one_claimer_per_item on gifts.gift_claims (workspace_id, item_id) where is_claimer;

-- seq is the event id of the live stream: a reconnecting client replays `where seq > Last-Event-ID`.
create table gifts.notifications (
  workspace_id uuid not null references platform.workspaces (id),
  id uuid not null default gen_random_uuid(),
  seq bigint generated always as identity,
  recipient_id uuid not null,
  type text not null check (type in ('item_claimed', 'split_invite', 'split_fully_funded', 'split_canceled')),
  data jsonb not null,
  created_at timestamptz not null default now(),
  read_at timestamptz,
  primary key (workspace_id, id)
);

create index notifications_recipient_seq_idx on gifts.notifications (recipient_id, seq);

create index notifications_unread_idx on gifts.notifications (recipient_id, seq) where read_at is null;

-- Platform: idempotency keys (Stripe semantics) for POST /api requests.
--
-- A keyed request runs in one explicit transaction: platform.idempotency_begin takes a transaction
-- advisory lock on (scope, key) and says whether to run, replay or refuse; the request's own function
-- calls follow in the same transaction; platform.idempotency_complete stores the response; commit.
-- So the stored response and the effect it reports commit together or not at all.
--
-- The table is platform-global (a key's scope is the caller, not a workspace): the scope is
-- 'user:<token sub>'. Anonymous callers cannot use keys (the server refuses them before calling).

create table platform.idempotency_keys (
  scope text not null check (length(scope) between 1 and 100),
  key text not null check (length(key) between 1 and 255),
  request_hash text not null,
  status integer not null check (status between 100 and 599),
  body text not null,
  content_type text,
  location text,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (scope, key)
);

create index idempotency_keys_expires_at on platform.idempotency_keys (expires_at);

-- Platform: the audit trail. Every row a function inserts, updates or deletes in a tenant table is
-- recorded in platform.audit_log by an AFTER row trigger (db/functions/platform/audit.sql attaches it to
-- every tenant table), in the same transaction as the change.

-- workspace_id has no foreign key on purpose: the audited row's own key already guarantees it, and
-- the check would take a KEY SHARE lock on the workspace row in every audited write, which deadlocks
-- with functions that lock that row FOR UPDATE (ensure_workspace_keeps_owner) and would keep a
-- workspace's history from outliving it.
create table platform.audit_log (
  workspace_id uuid not null,
  id bigint generated always as identity,
  at timestamptz not null default now(),
  actor_id uuid,
  operation text not null,
  action text not null check (action in ('insert', 'update', 'delete')),
  entity_table text not null,
  entity_id text not null,
  before jsonb,
  after jsonb,
  primary key (workspace_id, id)
);

create index audit_log_entity on platform.audit_log (workspace_id, entity_table, entity_id, id);
