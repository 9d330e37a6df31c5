-- Audit retention (platform.purge_audit_log, db/functions/platform/audit_retention.sql) deletes the
-- oldest entries in batches; without an index on at every batch would read the whole log.
-- Building it holds off audited writes while it runs: on a large existing log, create it first with
-- `create index concurrently audit_log_at on platform.audit_log (at)`, and this finds it there.
create index if not exists audit_log_at on platform.audit_log (at);
