-- Ten outbox rows per transaction (one multi-row INSERT), as the load driver's --batch 10 writes them.
\set t random(0, 99)
INSERT INTO cdc.outbox (table_name, operation, payload) SELECT 'bench_t' || ((:t + g) % 100), 'INSERT', '{"seq": 1, "status": "shipped"}' FROM generate_series(0, 9) g;
