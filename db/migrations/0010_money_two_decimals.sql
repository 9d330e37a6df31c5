-- Money is numeric(12,2) wherever it is stored, so every amount leaves with two decimals. One sum was not
-- bounded: a split's total, an item's price plus its additional costs, each below 10,000,000,000 but
-- together possibly above, which the claimer's closing amount (gift_claims.amount) cannot hold. open_split
-- refuses such costs now (amount_too_large); this constraint is the backstop. An item whose total is already
-- too large stops the migration, naming it, with nothing changed: which figure is wrong is the group's call.
--
-- gifts.valid_money gives way to platform.money_refusal, which Sessions uses too (db/functions/platform/refusal.sql).

do $$
declare
  v_problems text;
begin
  select string_agg(format('  workspace %s  item %s: price %s + additional costs %s = %s',
                           i.workspace_id, i.id, i.price, i.additional_costs, i.price + i.additional_costs),
                    E'\n' order by i.workspace_id, i.id)
  into v_problems
  from gifts.wishlist_items i
  where i.price + i.additional_costs >= 10000000000;
  if v_problems is not null then
    raise exception E'A wishlist item''s price and additional costs together must now be at most 9999999999.99, and these items are above it; nothing was changed:\n%\nLower the additional costs (or the price) of each, then start Lockstep again.', v_problems;
  end if;
end
$$;

alter table gifts.wishlist_items
  add constraint wishlist_items_total_fits check (price + additional_costs < 10000000000);

drop function if exists gifts.valid_money(numeric);
