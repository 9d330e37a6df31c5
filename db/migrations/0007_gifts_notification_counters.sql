-- The live stream resumed after the last sent seq, but seq is taken at insert, not at commit: of two
-- claims notifying one member, the later insert could commit first, be streamed, and move the stream
-- past the earlier one, which was then never sent. (On Citus, identity values are per-node ranges, so
-- seq would not even be ordered across a user's workspaces.)
--
-- Each notification now also gets recipient_seq, 1, 2, 3, … per workspace and recipient, taken from the
-- recipient's counter row in the inserting transaction (gifts.take_recipient_seq, db/functions/gifts/
-- notifications.sql). The counter row stays locked until that transaction ends, so the next writer for
-- the same recipient waits, and a recipient_seq is never visible before every smaller one of its
-- workspace and recipient is. The stream's position is one recipient_seq per workspace (a cursor).
create table gifts.notification_counters (
  workspace_id uuid not null references platform.workspaces (id),
  recipient_id uuid not null,
  last_seq bigint not null check (last_seq > 0),
  primary key (workspace_id, recipient_id)
);

-- A stream's first cursor reads every counter of its user.
create index notification_counters_recipient_idx on gifts.notification_counters (recipient_id);

alter table gifts.notifications add column recipient_seq bigint;

update gifts.notifications n
set recipient_seq = numbered.recipient_seq
from (select workspace_id, id, row_number() over (partition by workspace_id, recipient_id order by seq) as recipient_seq
      from gifts.notifications) numbered
where n.workspace_id = numbered.workspace_id and n.id = numbered.id;

insert into gifts.notification_counters (workspace_id, recipient_id, last_seq)
select workspace_id, recipient_id, max(recipient_seq)
from gifts.notifications
group by workspace_id, recipient_id;

alter table gifts.notifications
  alter column recipient_seq set not null,
  add constraint notifications_recipient_seq_key unique (workspace_id, recipient_id, recipient_seq);

-- notifications_since took a global seq; it now takes a cursor.
drop function if exists public.notifications_since(bigint, integer);
