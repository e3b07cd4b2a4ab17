"""Profile one benchmarked API call in process: where a request's CPU goes, without HTTP or gunicorn.

    .venv/bin/python bench/profile_call.py patient_detail --requests 300
    .venv/bin/python bench/profile_call.py sync_page --requests 200 --sort tottime --top 40
    .venv/bin/python bench/profile_call.py alerts_open --sql          # also print each statement once
    PROFILE_OUT=/tmp/alerts.prof .venv/bin/python bench/profile_call.py alerts_open   # keep the stats for pstats

Runs against a database bench/generate.py filled (default clinic_bench), with bench.settings (production
settings), through Django's test client and a real bearer token of a nurse (or, for check_in_create, of a
patient with an aftercare episode). The requests are the ones bench/run.py sends. It prints the mean time per
request with and without the profiler and the top functions by cumulative (or own) time.
"""

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import CALLS  # noqa: E402 - after the path above

PROFILED = [call for call in CALLS if call != "login"]  # login is Argon2's time, measured in bench/run.py


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("call", choices=PROFILED)
    parser.add_argument("--database", default="clinic_bench")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server address, no database")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"])
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sql", action="store_true", help="print the statements of one request")
    args = parser.parse_args(argv)

    dsn = f"{args.pg}/{args.database}"
    os.environ["DATABASE_URL"] = dsn
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()

    import datetime as dt

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import AccessToken

    from bench.run import Calls, load_samples, virtual_users
    from clinic.accounts.models import User

    samples, found = load_samples(dsn, per_facility=50)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    calls = Calls(samples, password="", since=since)
    users = found["patients"] if args.call == "check_in_create" else virtual_users(found["nurses"], samples, 8)
    clients = []
    for vu in users:
        client = Client(HTTP_HOST="localhost")
        token = AccessToken.for_user(User.objects.get(pk=vu.user_id))
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        clients.append((vu, client))
    rng = random.Random(3)

    def one() -> None:
        vu, client = rng.choice(clients)
        method, url, body = calls.api(args.call, vu)
        response = client.get(url) if method == "GET" else client.post(url, body, content_type="application/json")
        if response.status_code >= 400:
            raise SystemExit(f"{method} {url}: {response.status_code} {response.content[:300]!r}")

    for _ in range(30):  # warm up: connections, caches, memoised statements
        one()
    if args.sql:
        with CaptureQueriesContext(connection) as queries:
            one()
        for query in queries.captured_queries:
            print(f"-- {query['time']} s\n{query['sql']}\n")

    started = time.perf_counter()
    for _ in range(args.requests):
        one()
    plain_ms = (time.perf_counter() - started) * 1000 / args.requests

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(args.requests):
        one()
    profiler.disable()
    profiled_ms = (time.perf_counter() - started) * 1000 / args.requests

    print(f"{args.call}: {plain_ms:.2f} ms per request ({profiled_ms:.2f} ms under the profiler), {args.requests} runs")
    if os.environ.get("PROFILE_OUT"):
        profiler.dump_stats(os.environ["PROFILE_OUT"])
    pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
