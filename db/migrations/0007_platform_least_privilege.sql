-- Platform: least privilege. The server serves requests as the role lockstep_api, which may only
-- EXECUTE the exposed functions (schema public) and the few server-only functions its background
-- workers and webhook call; it holds no privilege on any table, so no code path, bug or injected
-- SQL in the server can write (or read) a row except through the atomic functions.
-- Migrations keep running as the owner, who owns every table and function; the SECURITY DEFINER
-- functions run as that owner.
--
-- Rules from here on (tests/Lockstep.Tests/Platform/LeastPrivilegeTests reads the catalog and fails
-- on a function that breaks them):
--   * every function lockstep_api (or PUBLIC) may execute is security definer with search_path = '';
--   * no function is executable by PUBLIC: the owner's default privileges no longer grant it, and a
--     later migration grants execute to lockstep_api, never to public;
--   * functions created later in public are executable by lockstep_api through default privileges
--     (public is the exposed schema); a server-only function in a module schema needs its own grant.

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'lockstep_api') then
    create role lockstep_api nologin;
  end if;
end
$$;

-- The owner switches to the role for serving (Options=-c role=lockstep_api); a non-superuser owner
-- needs membership for that.
grant lockstep_api to current_user;

revoke execute on all functions in schema public, auth, platform, crm, leads, sessions, gifts from public;
alter default privileges revoke execute on functions from public;
alter default privileges in schema public grant execute on functions to lockstep_api;

grant execute on all functions in schema public to lockstep_api;

-- The background workers' entry points run as the owner like every other callable function.
alter function sessions.due_bookings(integer) security definer;
alter function sessions.complete_due_booking(uuid, uuid) security definer;

grant usage on schema leads, sessions, platform to lockstep_api;
grant execute on function leads.ingest_whatsapp(jsonb) to lockstep_api;
grant execute on function leads.claim_outbox(integer, interval) to lockstep_api;
grant execute on function leads.complete_outbox(uuid, uuid, text) to lockstep_api;
grant execute on function leads.fail_outbox(uuid, uuid, text, interval) to lockstep_api;
grant execute on function sessions.due_bookings(integer) to lockstep_api;
grant execute on function sessions.complete_due_booking(uuid, uuid) to lockstep_api;

-- Server-only functions of the idempotency migration (0006, built in parallel): granted when present.
do $$
declare
  v_function regprocedure;
begin
  for v_function in
    select to_regprocedure(f) from unnest(array[
      'platform.idempotency_begin(text, text, text)',
      'platform.idempotency_complete(text, text, text, integer, text, text, text, interval)',
      'platform.purge_idempotency_keys(integer)',
      'leads.release_outbox(uuid, uuid)']) as f
    where to_regprocedure(f) is not null
  loop
    execute format('grant execute on function %s to lockstep_api', v_function);
  end loop;
end
$$;

/*
 * platform.applied_migrations() → setof text: the names of the applied migrations, for the
 * readiness check (the serving role cannot read platform.schema_migrations itself).
 */
create or replace function platform.applied_migrations()
returns setof text
language sql
stable
security definer
set search_path = ''
as $$
  select m.name from platform.schema_migrations m
$$;
grant execute on function platform.applied_migrations() to lockstep_api;
