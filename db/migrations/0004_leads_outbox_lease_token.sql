-- The outbox lease covered a whole claimed batch, which is sent row by row: once a batch took longer
-- than the lease, a second server instance claimed its last rows and sent them again, and
-- complete_outbox, fail_outbox and release_outbox did not check that their caller still held the row.
-- Each claim now gives each row a fresh lease token; the worker renews the row's lease right before its
-- send (leads.begin_outbox_attempt) and every later step names the token, so a worker that lost the row
-- changes nothing (db/functions/leads/outbox.sql). The old signatures go: none of them takes a token.
alter table leads.outbox add column lease_token uuid;

drop function if exists leads.complete_outbox(uuid, uuid, text);
drop function if exists leads.fail_outbox(uuid, uuid, text, interval);
drop function if exists leads.release_outbox(uuid, uuid);
