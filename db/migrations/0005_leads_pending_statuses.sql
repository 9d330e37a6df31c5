-- A status update (sent, delivered, read, failed) for a wamid no message had yet was dropped while Meta
-- was told 200, and it can arrive before the worker's recording of the accepted send commits. Such
-- updates are kept here, per workspace and wamid, and applied when the send is recorded
-- (leads.complete_outbox, db/functions/leads/statuses.sql); callback_data is the send's
-- biz_opaque_callback_data (the message id), which lets a later attempt find a send the Cloud API
-- accepted but the server never recorded, and record it instead of sending again. Rows no send claims
-- are deleted after a day.
create table leads.pending_statuses (
  workspace_id uuid not null references platform.workspaces (id) on delete cascade,
  wa_message_id text not null check (length(wa_message_id) <= 200),
  status text not null check (status in ('sent', 'delivered', 'read', 'failed')),
  error text check (length(error) <= 2000),
  callback_data text check (length(callback_data) <= 512),
  received_at timestamptz not null default now(),
  primary key (workspace_id, wa_message_id, status)
);

create index pending_statuses_callback_idx on leads.pending_statuses (workspace_id, callback_data) where callback_data is not null;

create index pending_statuses_received_idx on leads.pending_statuses (workspace_id, received_at);
