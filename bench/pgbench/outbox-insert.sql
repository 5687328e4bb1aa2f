-- One outbox row per transaction, spread over 100 tables, as an application writing events would.
\set t random(0, 99)
INSERT INTO cdc.outbox (table_name, operation, payload) VALUES ('bench_t' || :t, 'INSERT', '{"seq": 1, "status": "shipped"}');
