/*
 * platform.refusal(code, error) → jsonb: the one shape of an expected business refusal.
 */
create or replace function platform.refusal(p_code text, p_error text)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object('success', false, 'code', p_code, 'error', p_error)
$$;
