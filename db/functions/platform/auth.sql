-- auth.jwt() / auth.uid() / auth.role(): the verified token claims the server puts into
-- request.jwt.claims with set_config(..., true) in the same transaction as the call (as in Supabase).

/*
 * auth.jwt() → jsonb: the verified claims of the caller's token, or an empty object when anonymous.
 */
create or replace function auth.jwt()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb)
$$;

/*
 * auth.uid() → uuid: the caller's user id (the token's `sub`), or null when anonymous.
 */
create or replace function auth.uid()
returns uuid
language sql
stable
set search_path = ''
as $$
  select nullif(auth.jwt() ->> 'sub', '')::uuid
$$;

/*
 * auth.role() → text: the token's `role` claim (`authenticated` for users), or null.
 */
create or replace function auth.role()
returns text
language sql
stable
set search_path = ''
as $$
  select nullif(auth.jwt() ->> 'role', '')
$$;
