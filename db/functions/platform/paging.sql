/*
 * Keyset paging, the one way every list pages: newest first by a (timestamp, id) key; a page of p_limit
 * rows (1..200) carries next_before, the key of its last row, to pass back as p_before for the rows
 * after it. A list reads p_limit + 1 rows, so next_before is null exactly when no row follows. The
 * cursor is opaque to callers: base64url, without padding, of '<timestamp in UTC, microseconds>|<id>'.
 */

/*
 * platform.page_cursor(p_at, p_id) → text: the cursor that continues a list after the row keyed (p_at, p_id).
 */
create or replace function platform.page_cursor(p_at timestamptz, p_id text)
returns text
language sql
stable
set search_path = ''
as $$
  select rtrim(translate(encode(convert_to(
           to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || p_id, 'UTF8'), 'base64'),
         E'+/\n', '-_'), '=')
$$;

/*
 * platform.page_key(p_cursor) → (at, id): the key a cursor holds, the id as text; raises a data
 * exception (SQLSTATE class 22) when p_cursor is not one. The typed forms below catch it.
 */
create or replace function platform.page_key(p_cursor text, out at timestamptz, out id text)
language plpgsql
stable
set search_path = ''
as $$
declare
  v_parts text[] := regexp_match(
    convert_from(decode(rpad(translate(p_cursor, '-_', '+/'), (length(p_cursor) + 3) / 4 * 4, '='), 'base64'), 'UTF8'),
    '^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)\|(.+)$');
begin
  if p_cursor !~ '^[A-Za-z0-9_-]+$' or v_parts is null then
    raise exception 'not a page cursor' using errcode = 'invalid_parameter_value';
  end if;
  at := v_parts[1]::timestamptz;
  id := v_parts[2];
end;
$$;

/*
 * platform.page_key_uuid(p_cursor) → (at, id uuid): the key of a list keyed by a uuid; without a cursor,
 * a key after every row ('infinity', the greatest uuid), so the first page is the same index range
 * scan as any other; both null when p_cursor is not such a cursor.
 */
create or replace function platform.page_key_uuid(p_cursor text, out at timestamptz, out id uuid)
language plpgsql
stable
set search_path = ''
as $$
begin
  if p_cursor is null then
    at := 'infinity';
    id := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
  else
    select k.at, k.id::uuid into at, id from platform.page_key(p_cursor) k;
  end if;
exception when data_exception then
  at := null;
  id := null;
end;
$$;

/*
 * platform.page_key_bigint(p_cursor) → (at, id bigint): the key of a list keyed by a bigint (the audit
 * log); without a cursor, a key after every row; both null when p_cursor is not such a cursor.
 */
create or replace function platform.page_key_bigint(p_cursor text, out at timestamptz, out id bigint)
language plpgsql
stable
set search_path = ''
as $$
begin
  if p_cursor is null then
    at := 'infinity';
    id := 9223372036854775807;
  else
    select k.at, k.id::bigint into at, id from platform.page_key(p_cursor) k;
  end if;
exception when data_exception then
  at := null;
  id := null;
end;
$$;

/*
 * platform.page_refusal(p_limit, p_before, p_before_at) → jsonb: invalid_limit (p_limit outside 1..200),
 * invalid_cursor (p_before given but p_before_at, its decoded timestamp, null), or null when the page
 * request is sound.
 */
create or replace function platform.page_refusal(p_limit integer, p_before text, p_before_at timestamptz)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case
    when p_limit is null or p_limit not between 1 and 200 then platform.refusal('invalid_limit', 'A page holds 1 to 200 rows')
    when p_before is not null and p_before_at is null then platform.refusal('invalid_cursor', 'before is not a cursor this list gave out')
  end
$$;
