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

/*
 * platform.money_refusal(amount, code, error) → null when the amount is money as Lockstep stores it
 * (numeric(12,2): at most two decimals, less than 10,000,000,000 either way), else the refusal:
 * `code` with `error` for more than two decimals (money is never rounded silently) or NaN,
 * amount_too_large for anything beyond 9,999,999,999.99 (which would otherwise fail the write with
 * SQLSTATE 22003). A null amount is not refused here: whether one is allowed is the caller's rule.
 */
create or replace function platform.money_refusal(p_amount numeric, p_code text, p_error text)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case
    when p_amount is null then null
    when p_amount = 'NaN'::numeric or p_amount <> round(p_amount, 2) then platform.refusal(p_code, p_error)
    when abs(p_amount) >= 10000000000 then platform.refusal('amount_too_large', 'An amount is at most 9999999999.99')
  end
$$;

/*
 * platform.violated_constraint(constraint_name, message_text) → text: the constraint an integrity
 * violation names, as the schema calls it; pass what `get stacked diagnostics` gave. On Citus a violation
 * relayed from a worker has no constraint name, and its message names the shard's copy of the constraint
 * (`unique_phone_workspace_102170`); inside a call routed to a worker the shard's copy is the constraint
 * name itself. Either way the shard suffix is dropped (no constraint of the schema ends in a digit).
 */
create or replace function platform.violated_constraint(p_constraint_name text, p_message_text text)
returns text
language sql
immutable
set search_path = ''
as $$
  select substring(coalesce(nullif(p_constraint_name, ''), substring(p_message_text from 'constraint "([^"]*)"'))
                   from '^(.*[^0-9_])(_[0-9]+)?$')
$$;
