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
