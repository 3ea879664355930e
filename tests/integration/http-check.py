#!/usr/bin/env python3
"""Helpers for test-http: scrape and check /metrics, or attack the port.

  http-check.py metrics URL AGENCY=BETS... : scrapes URL every 50 ms until
      the draw is done, parsing each scrape with prometheus_client's
      text_string_to_metric_families; exits 1 at the first broken rule.
  http-check.py attack HOST PORT SECONDS : slow-loris, huge headers,
      1,000 connections and a stream of whole requests against an HTTP
      port for SECONDS.
"""
import socket
import sys
import threading
import time
import urllib.request

HISTOGRAMS = ("lottery_batch_ack_seconds", "lottery_storage_sync_seconds")
REQUIRED = ("lottery_agencies", "lottery_agencies_connected",
            "lottery_agencies_finished", "lottery_bets_stored",
            "lottery_agency_bets_stored", "lottery_batches",
            "lottery_connections_open", "lottery_connections_refused",
            "lottery_received_bytes", "lottery_draw_done",
            "lottery_draw_timestamp_seconds", "process_resident_memory_bytes",
            "process_open_fds", "process_cpu_seconds",
            "process_start_time_seconds") + HISTOGRAMS


def fail(message):
    print("http-check: " + message, flush=True)
    sys.exit(1)


def scrape(url):
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:
        if response.status != 200:
            fail("%s answered %d" % (url, response.status))
        text = response.read().decode("utf-8")
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family
    return families


def check_histogram(family):
    buckets = []
    count = None
    for s in family.samples:
        if s.name.endswith("_bucket"):
            buckets.append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            count = s.value
    if not buckets or buckets[-1][0] != float("inf"):
        fail("%s has no +Inf bucket" % family.name)
    for (le1, v1), (le2, v2) in zip(buckets, buckets[1:]):
        if le2 <= le1 or v2 < v1:
            fail("%s buckets do not increase: le=%s %s, le=%s %s"
                 % (family.name, le1, v1, le2, v2))
    if count != buckets[-1][1]:
        fail("%s_count %s is not the +Inf bucket %s"
             % (family.name, count, buckets[-1][1]))


def counters(families):
    """Every counter and histogram sample, by name and labels."""
    values = {}
    for family in families.values():
        if family.type not in ("counter", "histogram"):
            continue
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def per_agency(families):
    return {s.labels["agency"]: s.value
            for s in families["lottery_agency_bets_stored"].samples}


def metrics(url, expected):
    previous = {}
    scrapes = during = 0
    deadline = time.monotonic() + 60
    total = sum(expected.values())
    while True:
        families = scrape(url)
        scrapes += 1
        for name in REQUIRED:
            if name not in families:
                fail("no %s in a scrape" % name)
            if not families[name].documentation:
                fail("%s has no # HELP" % name)
        for name in HISTOGRAMS:
            check_histogram(families[name])
        current = counters(families)
        for key, value in previous.items():
            if current.get(key, -1) < value:
                fail("counter %s went down: %s -> %s"
                     % (key, value, current.get(key)))
        previous = current
        bets = families["lottery_bets_stored"].samples[0].value
        if 0 < bets < total:
            during += 1
        if families["lottery_draw_done"].samples[0].value == 1:
            break
        if time.monotonic() > deadline:
            fail("no draw within 60 s")
        time.sleep(0.05)

    stored = per_agency(families)
    for agency, bets in expected.items():
        if stored.get(agency) != bets:
            fail("agency %s: %s bets in /metrics, %s sent"
                 % (agency, stored.get(agency), bets))
    if families["lottery_bets_stored"].samples[0].value != total:
        fail("lottery_bets_stored_total is not %d" % total)
    acked = [s.value for s in families["lottery_batches"].samples
             if s.labels.get("result") == "acked"]
    ack_count = [s.value for s in families["lottery_batch_ack_seconds"].samples
                 if s.name.endswith("_count")]
    if not acked or acked[0] <= 0 or ack_count[0] != acked[0]:
        fail("acked batches %s, ACK times observed %s" % (acked, ack_count))
    if families["lottery_draw_timestamp_seconds"].samples[0].value <= 0:
        fail("the draw is done but has no time")
    print("scrapes: %d | during_upload: %d" % (scrapes, during), flush=True)


def attack(host, port, seconds):
    """Slow-loris, huge headers, 1,000 connections at once and a stream
    of whole requests, each in a thread of its own so that all of them
    go on at the same time (opening 1,000 connections alone takes many
    seconds while the port's backlog is full)."""
    end = time.monotonic() + seconds

    def crowd():
        while time.monotonic() < end:
            held = []
            for _ in range(1000):
                if time.monotonic() >= end:
                    break
                try:
                    held.append(socket.create_connection((host, port), 2))
                except OSError:
                    pass
            for s in held:
                s.close()

    def slow_loris():
        slow = []
        while time.monotonic() < end:
            while len(slow) < 80:
                try:
                    s = socket.create_connection((host, port), 2)
                    s.setblocking(False)
                    s.send(b"GET / HTTP/1.1\r\n")
                    slow.append(s)
                except OSError:
                    break
            for s in list(slow):
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    slow.remove(s)
                    s.close()
            time.sleep(0.2)

    def huge_headers():
        while time.monotonic() < end:
            big = None
            try:
                big = socket.create_connection((host, port), 2)
                big.settimeout(0.2)
                big.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20))
            except OSError:
                pass
            finally:
                if big is not None:
                    big.close()

    def requests():
        while time.monotonic() < end:
            for path in ("/", "/metrics", "/status.json"):
                try:
                    with socket.create_connection((host, port), 2) as s:
                        s.sendall(b"GET " + path.encode() +
                                  b" HTTP/1.1\r\nHost: x\r\n\r\n")
                        s.settimeout(2)
                        while s.recv(65536):
                            pass
                except OSError:
                    pass

    threads = [threading.Thread(target=f, daemon=True)
               for f in (crowd, slow_loris, huge_headers, requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("attack: done", flush=True)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "metrics":
        expected = dict(arg.split("=") for arg in sys.argv[3:])
        metrics(sys.argv[2], {k: float(v) for k, v in expected.items()})
    elif len(sys.argv) == 5 and sys.argv[1] == "attack":
        attack(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        fail("usage: metrics URL AGENCY=BETS... | attack HOST PORT SECONDS")


if __name__ == "__main__":
    main()
