-- cdc-notify schema, version 3: capture any table without touching application code.
--
-- cdc.capture('public.orders') installs a row-level AFTER INSERT/UPDATE/DELETE trigger on the table that writes
-- one outbox row per changed row, in the same transaction: table_name 'public.orders' (schema and table, as
-- clients subscribe to it), the operation, and the payload
--   {"new": {...}, "old": {...}, "key": {...}}
-- where "new" is the row after (INSERT, UPDATE), "old" the row before (UPDATE, DELETE), "key" the primary key
-- columns of the row (of "new", or of "old" for a DELETE; {} when the table has no primary key). Excluded columns
-- (secrets) appear in none of them. cdc.release('public.orders') removes the trigger.

CREATE TABLE cdc.captures (
    table_name       text        PRIMARY KEY,          -- schema.table, as clients subscribe to it
    relation         regclass    NOT NULL UNIQUE,
    exclude_columns  text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION cdc.capture_row() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    excluded  text[] := TG_ARGV[0]::text[];
    key_cols  text[] := TG_ARGV[1]::text[];
    new_row   jsonb;
    old_row   jsonb;
    key_of    jsonb;
    payload   jsonb;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW) - excluded;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD) - excluded;
    END IF;
    SELECT coalesce(jsonb_object_agg(k, coalesce(new_row, old_row) -> k), '{}'::jsonb)
      INTO key_of
      FROM unnest(key_cols) AS k;
    payload := jsonb_strip_nulls(jsonb_build_object('new', new_row, 'old', old_row))
               || jsonb_build_object('key', key_of);
    IF octet_length(payload::text) > 1048576 THEN
        -- the outbox takes at most 1 MiB: say what changed, not how, rather than fail the application's write
        payload := jsonb_build_object('key', key_of, 'truncated', true);
    END IF;
    INSERT INTO cdc.outbox (table_name, operation, payload)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP, payload);
    RETURN NULL;
END
$$;

CREATE FUNCTION cdc.capture(target regclass, exclude_columns text[] DEFAULT '{}') RETURNS text
    LANGUAGE plpgsql AS
$$
DECLARE
    ns         text;
    rel        text;
    name       text;
    key_cols   text[];
BEGIN
    SELECT n.nspname, c.relname INTO ns, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = target AND c.relkind IN ('r', 'p');
    IF rel IS NULL THEN
        RAISE EXCEPTION 'cdc.capture: % is not a table', target USING ERRCODE = 'wrong_object_type';
    END IF;
    name := ns || '.' || rel;
    IF name !~ '^[A-Za-z0-9_.]{1,128}$' THEN
        RAISE EXCEPTION 'cdc.capture: % cannot be captured: its name must be letters, digits and _', name
            USING ERRCODE = 'invalid_name';
    END IF;
    IF ns = 'cdc' THEN
        RAISE EXCEPTION 'cdc.capture: the cdc schema cannot be captured' USING ERRCODE = 'invalid_name';
    END IF;
    SELECT coalesce(array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum)), '{}')
      INTO key_cols
      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = target AND i.indisprimary;
    EXECUTE format('DROP TRIGGER IF EXISTS cdc_capture ON %s', target);
    EXECUTE format('CREATE TRIGGER cdc_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION cdc.capture_row(%L, %L)',
                   target, coalesce(exclude_columns, '{}')::text, key_cols::text);
    INSERT INTO cdc.captures (table_name, relation, exclude_columns)
    VALUES (name, target, coalesce(exclude_columns, '{}'))
    ON CONFLICT (table_name) DO UPDATE SET exclude_columns = excluded.exclude_columns, relation = excluded.relation;
    RETURN name;
END
$$;

CREATE FUNCTION cdc.release(target regclass) RETURNS boolean
    LANGUAGE plpgsql AS
$$
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS cdc_capture ON %s', target);
    DELETE FROM cdc.captures WHERE relation = target;
    RETURN FOUND;
END
$$;

-- Subscription filters (operations and payload field conditions, docs/api/websocket-messages.md), kept with
-- durable subscriptions so that every instance applies them: {"operations": [...], "filter": {...}}.
ALTER TABLE cdc.subscriptions ADD COLUMN filter jsonb;
