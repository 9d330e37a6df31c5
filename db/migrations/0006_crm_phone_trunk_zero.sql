-- crm.normalize_phone, second version, and the stored phone_e164 values recomputed with it. The first
-- version read three kinds of spelling wrongly:
--   * '+44 (0) 7700 900123' became +4407700900123, so the customer got a second contact beside the
--     +447700900123 that WhatsApp sends: a parenthesised trunk zero right after the country code is dropped;
--   * '+0044 20 7946 0000' was accepted as +00442079460000: no country code starts with 0, so '+0…' and
--     '000…' are refused;
--   * a no-break space (U+00A0) or another Unicode space, or a zero-width or direction mark that comes
--     along when a number is copied, refused the number: they are separators now, like the ASCII space.
--
-- A new rule changes no stored value by itself: each contact whose phone reads differently now is
-- rewritten, which recomputes the generated column. Where that would give two contacts of one workspace
-- the same phone, or leave a stored phone with no E.164 form, nothing is changed and the migration stops
-- naming them: whether two contacts are one customer, and which record to keep, is the operator's call
-- (README, CRM: phone rule changes).

/*
 * crm.normalize_phone(text) → text: the E.164 form ('+' and 8 to 15 digits) of a phone number, or null
 * when the text cannot be one. Rules, kept few on purpose (no numbering-plan library is served here):
 *   1. separators are ignored: ASCII whitespace, Unicode spaces (U+00A0 no-break, U+2007 figure, U+202F
 *      narrow no-break, U+3000 ideographic, every character a locale's regex may take for a space),
 *      zero-width characters and direction marks, dots, dashes (also U+2010–U+2015 and U+2212), slashes
 *      and parentheses. Listed, not \s: a generated column must not depend on the database's locale;
 *   2. the number must carry its country code: a leading '+', or the international prefix '00';
 *   3. a trunk zero written in parentheses right after the country code is dropped: '+44 (0) 20 7946 0000'
 *      is +442079460000. An unparenthesised zero is kept: '+39 06 …' (Rome) needs it;
 *   4. the country code does not start with 0: '+0044 …' and '000 …' are not phone numbers;
 *   5. anything else — a letter, a second '+', no country code — is not a phone number;
 *   6. 8 to 15 digits remain (E.164 allows at most 15).
 * So '+1 (555) 010-0199', '+1 555 010 0199', '001-555-010-0199' and '+15550100199' are one number.
 */
create or replace function crm.normalize_phone(p_phone text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case
    when digits ~ '^[1-9][0-9]{7,14}$' then '+' || digits
  end
  from (
    select case
      when stripped ~ '^\+[0-9]+$' then substr(stripped, 2)
      when stripped ~ '^00[0-9]+$' then substr(stripped, 3)
    end as digits
    from (
      select regexp_replace(
               regexp_replace(compact, '^([()]*(\+|00)[()]*[0-9]{1,3}[()]*)\(0\)', '\1'),
               '[()]', '', 'g') as stripped
      from (
        select regexp_replace(p_phone,
                 '[\t\n\v\f\r \u001c-\u001f\u0085\u00a0\u00ad\u061c\u1680\u180e\u2000-\u2015\u2028-\u202f\u205f-\u2064\u2066-\u206f\u2212\u3000\ufeff./-]',
                 '', 'g') as compact
      ) c
    ) s
  ) d
$$;

do $$
declare
  v_problems text;
  v_length integer;
begin
  select string_agg(p.line, E'\n' order by p.line) into v_problems
  from (
    select format('  workspace %s  %s  %s contacts: %s', c.workspace_id, c.e164, count(*),
                  string_agg(format('%s (contact %s)', quote_literal(c.phone), c.id), ' | ' order by c.phone, c.id)) as line
    from (select k.workspace_id, k.id, k.phone, crm.normalize_phone(k.phone) as e164 from crm.contacts k) c
    where c.e164 is not null
    group by c.workspace_id, c.e164
    having count(*) > 1
    union all
    select format('  workspace %s  %s (contact %s): no E.164 form', k.workspace_id, quote_literal(k.phone), k.id)
    from crm.contacts k
    where k.phone is not null and crm.normalize_phone(k.phone) is null
  ) p;
  if v_problems is not null then
    raise exception E'crm.normalize_phone is changing (a trunk zero in parentheses after the country code is dropped; a country code starting with 0 is refused), and under the new rule these stored contacts would share a phone in their workspace, or have none; nothing was changed:\n%\nKeep one contact per phone (point the others'' leads and conversations at it, then delete them) or correct the phone, then start Lockstep again (README, CRM: phone rule changes).', v_problems;
  end if;

  -- A rewritten phone is one digit shorter (its trunk zero gone) and may equal the stored value of a
  -- contact that is about to lose its own zero: shorter stored values go first, so that one has moved on.
  for v_length in
    select distinct length(k.phone_e164) from crm.contacts k where k.phone_e164 is distinct from crm.normalize_phone(k.phone) order by 1
  loop
    update crm.contacts k set phone = k.phone
    where length(k.phone_e164) = v_length and k.phone_e164 is distinct from crm.normalize_phone(k.phone);
  end loop;
end
$$;
