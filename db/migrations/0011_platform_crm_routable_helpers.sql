-- crm.contact_json took a crm.contacts row; it now takes the row as jsonb (to_jsonb(c)), the same
-- keys and values out (db/functions/crm/contacts.sql). A function of a table's row type cannot be
-- called on a copy of that table under another name, as the shards of a distributed table are.
drop function if exists crm.contact_json(crm.contacts);
