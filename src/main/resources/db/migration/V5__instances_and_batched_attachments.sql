-- cdc-notify schema, version 5: one heartbeat per instance instead of one per attachment.
--
-- Each running instance has one row here and refreshes heartbeat_at about once a second. Its attachments count
-- while its heartbeat is younger than 30 s; an instance that died without SIGTERM is removed by the next
-- instance that notices, with its attachments, and the subscriptions only it held start their detached TTL.
CREATE TABLE cdc.instances (
    id            text        PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

-- An attachment row now only says "this instance has clients on this subscription": written when the first
-- client of the instance attaches, deleted when its last one has left, never refreshed. Its own heartbeat_at
-- (the time it was written) and clients are what releases before schema 5 refresh and read: they stay, so that
-- old and new instances run side by side during a rolling upgrade (a row counts while either its own heartbeat
-- or its instance's is younger than 30 s).
ALTER TABLE cdc.subscription_attachments ALTER COLUMN clients SET DEFAULT 1;

CREATE INDEX subscription_attachments_instance_id ON cdc.subscription_attachments (instance_id);

-- The expiry sweep and the "attached after all" safety net look only at detached subscriptions.
CREATE INDEX subscriptions_detached_at ON cdc.subscriptions (detached_at) WHERE detached_at IS NOT NULL;
