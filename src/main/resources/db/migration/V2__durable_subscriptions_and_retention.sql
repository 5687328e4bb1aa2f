-- cdc-notify schema, version 2: durable subscriptions shared by all instances, and outbox retention.

-- A durable subscription: made by POST /v1/subscriptions or a WebSocket subscribe, owned by one key.
-- last_cursor is the cursor of the last event delivered to any of its clients (written about once a second);
-- a client that re-attaches on an instance that does not hold the subscription in memory resumes from it.
-- detached_at is when its last client anywhere left (its creation, until one attaches); NULL while attached.
CREATE TABLE cdc.subscriptions (
    id           text        PRIMARY KEY,
    key_id       text        NOT NULL,
    tables       text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_cursor  text,
    detached_at  timestamptz DEFAULT now(),
    CONSTRAINT subscriptions_tables_not_empty CHECK (cardinality(tables) > 0)
);

CREATE INDEX subscriptions_key_id ON cdc.subscriptions (key_id);

-- Which instances have clients attached to which subscriptions. Each instance refreshes its rows about once a
-- second; a row not refreshed for 30 s (an instance that died without SIGTERM) no longer counts.
CREATE TABLE cdc.subscription_attachments (
    subscription_id  text        NOT NULL REFERENCES cdc.subscriptions (id) ON DELETE CASCADE,
    instance_id      text        NOT NULL,
    clients          integer     NOT NULL,
    heartbeat_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, instance_id)
);

-- Outbox retention: everything at or below (purged_xid, purged_id) in (xid, id) order has been deleted.
-- A cursor at or below it (or naming a pending transaction at or below purged_xid) cannot resume.
CREATE TABLE cdc.outbox_retention (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    purged_xid  xid8    NOT NULL DEFAULT '0',
    purged_id   bigint  NOT NULL DEFAULT 0
);

INSERT INTO cdc.outbox_retention DEFAULT VALUES;
