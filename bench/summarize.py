#!/usr/bin/env python3
"""Prints the JSON lines of bench/target/results.jsonl (or the files given) as a Markdown table."""
import json, sys

paths = sys.argv[1:] or ["bench/target/results.jsonl"]
rows = [json.loads(l) for p in paths for l in open(p) if l.strip()]

def f(v, d=1):
    return "" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))

print("| run | mode | events/s | tx/s | deliveries/s | p50 | p90 | p99 | p99.9 | max | commit→first p50/p99 | commit→last p50/p99 | lost | dup | CPU % driver / service / PG / others | service RSS MB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    p = r["params"]
    res = r.get("resources", {})
    pg = res.get("postgres", {})
    cpu = f"{f(res.get('driver_cpu_pct'),0)} / {f(res.get('service_cpu_pct'),0)} / {f(pg.get('total_cpu_pct'),0)} / {f(res.get('other_processes_cpu_pct'),0)}"
    rss = res.get("service_rss_kb")
    rss = f"{rss/1024:.0f}" if rss else ""
    if "connections" not in r and "writes" not in r:
        print(f"| {p['label']} | {r['mode']}: {r.get('error', 'incomplete')} |||||||||||||||")
    elif r["mode"] == "load":
        w, d, lat = r["writes"], r["deliveries"], r["latency"]
        t, c, cl = lat["total"], lat.get("commit_to_first_client", {}), lat.get("commit_to_last_client", {})
        setup = r.get("service_setup", {})
        listener = setup.get("listener_mode") or ""
        bell = {True: ", trigger on", False: ", trigger off"}.get(setup.get("doorbell_trigger"), "")
        filt = ""
        if float(p.get("filter-fraction", 0) or 0) > 0:
            filt = f", {d.get('filtered_clients')} filtered (share {p.get('filter-share')}), {f(d.get('expected_per_event'),1)} deliveries/event, unwanted {d.get('unwanted')}"
        print(f"| {p['label']} | {p['ws']}+{p['sse']} on {p['tables']}, rate {p['rate']}, B={p['batch']}, {p['writers']}w, sync {p.get('sync-commit','on')}{', ' + listener if listener else ''}{bell}{filt} "
              f"| {f(w['events_per_s'],0)} | {f(w['transactions_per_s'],0)} | {f(d['deliveries_per_s'],0)} "
              f"| {f(t.get('p50_ms'))} | {f(t.get('p90_ms'))} | {f(t.get('p99_ms'))} | {f(t.get('p999_ms'))} | {f(t.get('max_ms'))} "
              f"| {f(c.get('p50_ms'))} / {f(c.get('p99_ms'))} | {f(cl.get('p50_ms'))} / {f(cl.get('p99_ms'))} | {d['lost']} | {d['duplicates']} | {cpu} | {rss} |")
    else:
        c, m = r["connections"], r.get("memory", {})
        print(f"| {p['label']} | connections {p['ws']}+{p['sse']} | | | | | | | | | | | | {cpu} | {rss} |")
        print(f"|  | opened {c['subscribed']}/{c['requested']} in {f(c['open_seconds'])} s; open after hold {c['still_open_after_hold']}; probe delivered {c['probe_delivered']}; "
              f"RSS {m.get('rss_before_kb')}→{m.get('rss_open_kb')} kB = {f(m.get('rss_per_connection_kb'))} kB/conn; live heap {m.get('live_heap_before_kb')}→{m.get('live_heap_open_kb')} kB = {f(m.get('live_heap_per_connection_kb'))} kB/conn ||||||||||||||")
