-- cdc-notify schema, version 4: captured rows arrive exactly as stored, under the name they were captured by,
-- and nothing the capture trigger does can make the application's statement fail.
--
-- What changes from V3 (V3__captures.sql):
-- * Row images are to_jsonb(row) as it is: a NULL column is present as null, jsonb values keep their null
--   members (V3 ran jsonb_strip_nulls over the images, which dropped both).
-- * The event's table name is fixed when the table is captured and handed to the trigger as its first argument
--   (and kept in cdc.captures.table_name). Renaming the table, or its schema, changes nothing about its events;
--   V3 used the table's name at each write, so a rename silently changed the events' table, and a rename to a
--   name outside [A-Za-z0-9_.] made every application write fail on the outbox's name check.
-- * The trigger function runs as its owner (SECURITY DEFINER, with a fixed search_path), so the application's
--   database user needs no rights on the cdc schema for its writes to be captured.
-- * Capturing a partitioned table puts the trigger on the partitioned table; PostgreSQL clones it onto every
--   partition, present and future, with the same arguments, so all partitions' rows carry the parent's name.
-- * exclude_columns are checked against the catalog when capturing: unknown names are refused (names match
--   exactly, case included), and so are primary key columns, which every event carries as its key.
-- * cdc.release(text) releases by the captured name (or the table's current name).
--
-- Payload: {"new": {...}, "key": {...}} for INSERT, {"new": {...}, "old": {...}, "key": {...}} for UPDATE,
-- {"old": {...}, "key": {...}} for DELETE. Excluded columns appear nowhere. When an excluded column is no longer
-- found under its name (it was renamed or dropped after capturing) the trigger cannot tell which column now
-- holds the secret, so it withholds the images: {"key": {...}, "withheld": true} until the table is captured
-- again. A payload over 1 MiB becomes {"key": {...}, "truncated": true}, and so does a row that has no jsonb
-- form (a json column holding \u0000, which jsonb cannot represent).

-- Trigger arguments: (event table name, excluded columns, primary key columns), all fixed at capture time.
CREATE OR REPLACE FUNCTION cdc.capture_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    excluded  text[] := TG_ARGV[1]::text[];
    key_cols  text[] := TG_ARGV[2]::text[];
    row_of    jsonb;
    new_row   jsonb;
    old_row   jsonb;
    key_of    jsonb := '{}';
    k         text;
    payload   jsonb;
BEGIN
    BEGIN
        IF TG_OP <> 'DELETE' THEN
            new_row := to_jsonb(NEW);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            old_row := to_jsonb(OLD);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        -- A json column may hold what jsonb cannot (\u0000, a lone surrogate): then the row has no jsonb image,
        -- and the event says which row changed, not how, rather than fail the application's write. (This block
        -- writes nothing, so its subtransaction takes no transaction id.)
        BEGIN
            -- key columns are never json (it has no equality), so they have a jsonb form one by one
            IF EXISTS (SELECT FROM unnest(key_cols) AS c WHERE NOT (c = ANY (excluded))) THEN
                EXECUTE (SELECT 'SELECT jsonb_build_object(' || string_agg(format('%L, ($1).%I', c, c), ', ') || ')'
                           FROM unnest(key_cols) AS c WHERE NOT (c = ANY (excluded)))
                   INTO key_of
                  USING CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            key_of := '{}';
        END;
        payload := jsonb_build_object('key', key_of, 'truncated', true);
    END;
    IF payload IS NULL THEN
        row_of := coalesce(new_row, old_row);
        FOREACH k IN ARRAY key_cols LOOP
            IF NOT (k = ANY (excluded)) THEN -- a V3 capture may exclude a key column: it stays out of the key too
                key_of := key_of || jsonb_build_object(k, row_of -> k);
            END IF;
        END LOOP;
        IF cardinality(excluded) > 0 AND NOT (row_of ?& excluded) THEN
            -- an excluded column was renamed or dropped: whichever column holds the secret now, send none
            payload := jsonb_build_object('key', key_of, 'withheld', true);
        ELSE
            new_row := new_row - excluded;
            old_row := old_row - excluded;
            payload := CASE TG_OP
                           WHEN 'INSERT' THEN jsonb_build_object('new', new_row, 'key', key_of)
                           WHEN 'UPDATE' THEN jsonb_build_object('new', new_row, 'old', old_row, 'key', key_of)
                           ELSE jsonb_build_object('old', old_row, 'key', key_of)
                       END;
        END IF;
    END IF;
    IF octet_length(payload::text) > 1048576 THEN
        -- the outbox takes at most 1 MiB: say what changed, not how, rather than fail the application's write
        payload := jsonb_build_object('key', key_of, 'truncated', true);
        IF octet_length(payload::text) > 1048576 THEN
            payload := '{"truncated": true}';
        END IF;
    END IF;
    INSERT INTO cdc.outbox (table_name, operation, payload) VALUES (TG_ARGV[0], TG_OP, payload);
    RETURN NULL;
END
$$;

-- It writes the outbox with the rights of its owner: only cdc.capture (the owner) may attach it to a table, or
-- anyone allowed to create a trigger could write events of any table name. Firing a trigger checks no rights.
REVOKE ALL ON FUNCTION cdc.capture_row() FROM PUBLIC;

-- Installs (or re-installs) the trigger; no checks: cdc.capture checks, and the migration below re-installs
-- what V3 had captured as it was.
CREATE FUNCTION cdc.capture_install(target regclass, name text, exclude_columns text[]) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    key_cols  text[];
BEGIN
    SELECT coalesce(array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)), '{}')
      INTO key_cols
      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = target AND i.indisprimary;
    EXECUTE format('DROP TRIGGER IF EXISTS cdc_capture ON %s', target);
    EXECUTE format('CREATE TRIGGER cdc_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION cdc.capture_row(%L, %L, %L)',
                   target, name, coalesce(exclude_columns, '{}')::text, key_cols::text);
END
$$;

-- True when the relation exists and carries its own capture trigger (not one cloned from a partitioned parent).
CREATE FUNCTION cdc.capture_live(target oid) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS
$$
    SELECT EXISTS (SELECT 1 FROM pg_trigger t
                    WHERE t.tgrelid = target AND t.tgname = 'cdc_capture' AND t.tgparentid = 0)
$$;

CREATE OR REPLACE FUNCTION cdc.capture(target regclass, exclude_columns text[] DEFAULT '{}') RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    ns         text;
    rel        text;
    partition  boolean;
    name       text;
    other      text;
    -- as given, each name once
    excl       text[] := ARRAY(SELECT e FROM unnest(coalesce(exclude_columns, '{}')) WITH ORDINALITY AS x(e, n)
                                GROUP BY e ORDER BY min(n));
    unknown    text[];
    keyed      text[];
BEGIN
    SELECT n.nspname, c.relname, c.relispartition INTO ns, rel, partition
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = target AND c.relkind IN ('r', 'p');
    IF rel IS NULL THEN
        RAISE EXCEPTION 'cdc.capture: % is not a table', target USING ERRCODE = 'wrong_object_type';
    END IF;
    IF ns = 'cdc' THEN
        RAISE EXCEPTION 'cdc.capture: the cdc schema cannot be captured' USING ERRCODE = 'invalid_name';
    END IF;
    IF partition THEN
        SELECT c.table_name INTO other
          FROM pg_partition_ancestors(target) AS a(relid) JOIN cdc.captures c ON c.relation = a.relid
         WHERE a.relid <> target AND cdc.capture_live(a.relid);
        IF other IS NOT NULL THEN
            RAISE EXCEPTION 'cdc.capture: % is a partition of a captured table, whose events (table %) include its rows',
                target, other USING ERRCODE = 'object_in_use';
        END IF;
    END IF;
    SELECT c.table_name INTO other
      FROM pg_partition_tree(target) AS p JOIN cdc.captures c ON c.relation = p.relid
     WHERE p.relid <> target AND cdc.capture_live(p.relid);
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'cdc.capture: a partition of % is captured on its own (table %): release it first',
            target, other USING ERRCODE = 'object_in_use';
    END IF;

    SELECT array_agg(e ORDER BY n) INTO unknown
      FROM unnest(excl) WITH ORDINALITY AS x(e, n)
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = e);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'cdc.capture: % has no column % (exclude_columns are matched exactly, case included)',
            target, (SELECT string_agg(format('"%s"', u), ', ') FROM unnest(unknown) AS u)
            USING ERRCODE = 'undefined_column';
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO keyed
      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = target AND i.indisprimary AND a.attname = ANY (excl);
    IF keyed IS NOT NULL THEN
        RAISE EXCEPTION 'cdc.capture: % cannot exclude %: primary key columns are every event''s key', target,
            (SELECT string_agg(format('"%s"', k), ', ') FROM unnest(keyed) AS k)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Capturing a captured table again keeps the name it was captured by (so a renamed table keeps its
    -- subscribers) and replaces its excluded columns.
    SELECT c.table_name INTO name FROM cdc.captures c WHERE c.relation = target AND cdc.capture_live(target);
    IF name IS NULL THEN
        -- rows whose table was dropped, or whose trigger is gone, no longer capture anything
        DELETE FROM cdc.captures c WHERE NOT cdc.capture_live(c.relation);
        name := ns || '.' || rel;
        IF name !~ '^[A-Za-z0-9_.]{1,128}$' THEN
            RAISE EXCEPTION 'cdc.capture: % cannot be captured: its name must be letters, digits and _', name
                USING ERRCODE = 'invalid_name';
        END IF;
        SELECT c.relation::text INTO other FROM cdc.captures c WHERE c.table_name = name;
        IF other IS NOT NULL THEN
            RAISE EXCEPTION 'cdc.capture: events named % already come from the captured table % (renamed since): '
                            'release it first', name, other USING ERRCODE = 'duplicate_object';
        END IF;
    END IF;
    PERFORM cdc.capture_install(target, name, excl);
    INSERT INTO cdc.captures (table_name, relation, exclude_columns)
    VALUES (name, target, excl)
    ON CONFLICT (relation) DO UPDATE SET exclude_columns = excluded.exclude_columns;
    RETURN name;
END
$$;

-- Releases by regclass (the table as it is named now).
CREATE OR REPLACE FUNCTION cdc.release(target regclass) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$
BEGIN
    IF cdc.capture_live(target) THEN
        EXECUTE format('DROP TRIGGER cdc_capture ON %s', target);
    END IF;
    DELETE FROM cdc.captures WHERE relation = target;
    RETURN FOUND;
END
$$;

-- Releases by the captured name (what DELETE /v1/captures/{table} and `captures remove` pass), or else by the
-- table's current name, resolved on the caller's search_path. A plain literal, cdc.release('public.orders'),
-- resolves to this one.
CREATE FUNCTION cdc.release(target text) RETURNS boolean
    LANGUAGE plpgsql AS
$$
DECLARE
    rel  oid;
BEGIN
    SELECT c.relation INTO rel FROM cdc.captures c WHERE c.table_name = target;
    IF rel IS NULL THEN
        rel := pg_catalog.to_regclass(target);
        IF rel IS NULL THEN
            RETURN false;
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = rel) THEN
        RETURN cdc.release(rel::regclass);
    END IF;
    DELETE FROM cdc.captures WHERE relation = rel; -- the table was dropped: only the row is left
    RETURN FOUND;
END
$$;

-- Re-install what V3 captured with the new trigger function. V3's events carried the table's name at each write,
-- so each capture now keeps the name its events carry today (its current name), unless that name is one the
-- outbox refuses (then V3's writes were failing, and the name it was captured by takes over).
DO
$$
DECLARE
    c        record;
    current  text;
BEGIN
    DELETE FROM cdc.captures WHERE NOT cdc.capture_live(relation);
    FOR c IN SELECT * FROM cdc.captures ORDER BY table_name LOOP
        SELECT n.nspname || '.' || r.relname INTO current
          FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
         WHERE r.oid = c.relation;
        IF current <> c.table_name AND current ~ '^[A-Za-z0-9_.]{1,128}$'
           AND NOT EXISTS (SELECT 1 FROM cdc.captures o WHERE o.table_name = current) THEN
            UPDATE cdc.captures SET table_name = current WHERE relation = c.relation;
        ELSE
            current := c.table_name;
        END IF;
        PERFORM cdc.capture_install(c.relation, current, c.exclude_columns);
    END LOOP;
END
$$;

COMMENT ON COLUMN cdc.captures.table_name IS 'the events'' table name, fixed when the table was captured';
COMMENT ON COLUMN cdc.captures.relation IS 'the captured table, whatever it is named now';
