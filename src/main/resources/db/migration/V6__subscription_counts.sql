-- cdc-notify schema, version 6: each key's number of durable subscriptions, kept by triggers.
--
-- Creating subscriptions checks the key's cap (cdc.limits.max-subscriptions-per-key) under the key's advisory
-- lock. Until now that was count(*) over the key's rows: at 20,000 subscriptions on one key 6 ms per batch, and
-- the batches of one key run one at a time, so a storm of subscribes on a key that already had 10,000 took three
-- times as long as on an empty one, and a key meant to serve 100,000 clients would have spent a second a batch.
-- Now a row per key holds the number. Statement-level triggers with transition tables keep it: one update per
-- key and statement, whatever the number of rows. A creating batch updates its key's row while it holds the
-- key's lock anyway; a deleting statement updates the rows of the keys it deleted from, once, at its end.
CREATE TABLE cdc.subscription_counts (
    key_id  text    PRIMARY KEY,
    n       bigint  NOT NULL
);

INSERT INTO cdc.subscription_counts (key_id, n)
SELECT key_id, count(*) FROM cdc.subscriptions GROUP BY key_id;

CREATE FUNCTION cdc.subscription_counts_add() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    INSERT INTO cdc.subscription_counts AS c (key_id, n)
    SELECT key_id, count(*) FROM added GROUP BY key_id ORDER BY key_id
    ON CONFLICT (key_id) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION cdc.subscription_counts_remove() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    -- rows locked in key order, so that two statements deleting from the same keys cannot deadlock here
    UPDATE cdc.subscription_counts c SET n = c.n - d.n
      FROM (SELECT key_id, count(*) AS n FROM removed GROUP BY key_id) d,
           (SELECT key_id FROM cdc.subscription_counts
             WHERE key_id IN (SELECT key_id FROM removed) ORDER BY key_id FOR UPDATE) l
     WHERE c.key_id = d.key_id AND l.key_id = d.key_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER subscription_counts_add
    AFTER INSERT ON cdc.subscriptions
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION cdc.subscription_counts_add();

CREATE TRIGGER subscription_counts_remove
    AFTER DELETE ON cdc.subscriptions
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION cdc.subscription_counts_remove();

-- key_id never changes (no statement of the service updates it); a hand that changes it must fix the counts
-- (DELETE FROM cdc.subscription_counts; then the INSERT … SELECT above) or the cap counts the old key.
