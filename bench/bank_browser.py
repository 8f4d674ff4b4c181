"""Bank browser speed with 50,000 items, on SQLite and on PostgreSQL (issue 2: median < 200 ms).

Builds a synthetic bank (examsys.devtools.synthetic_bank), then requests GET /bank/ through the Flask test
client as a logged-in reviewer with a filter plus free text, and with other filter mixes, and prints the
median and p90 of the full request (query + facet counts + rendering).

    .venv/bin/python bench/bank_browser.py [--items 50000] [--pg postgresql://examsys:examsys@127.0.0.1:5432/examsys_test]
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examsys import create_app  # noqa: E402
from examsys.config import TestConfig  # noqa: E402
from examsys.devtools.synthetic_bank import ensure_occupation, insert_items  # noqa: E402
from examsys.extensions import db  # noqa: E402

QUERIES = [
    ("filter + free text", "/bank/?occupation={occ}&grade=4&status=approved&q=%E4%B8%BB%E5%81%8F%E8%A7%92"),
    ("free text only", "/bank/?q=G71"),
    ("subtree + type + difficulty", "/bank/?occupation={occ}&kp=C-B&type=single_choice&dmin=0.5&dmax=0.8"),
    ("no filter, page 200", "/bank/?page=200"),
]


def ensure_database(url: str) -> None:
    """Create the scratch database named in ``url`` when it does not exist (the role needs CREATEDB)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}).first():
            conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def run(url: str, n_items: int, repeats: int) -> None:
    if url.startswith("postgresql"):
        ensure_database(url)
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        if not url.startswith("sqlite"):
            db.drop_all()
        db.create_all()
        t0 = time.perf_counter()
        occ = ensure_occupation(n_points=200)
        insert_items(occ, n_items, seed=42)
        from examsys.services.auth import create_user
        create_user("bench", "bench-password", "reviewer", "Bench")
        db.session.commit()
        build = time.perf_counter() - t0
        occ_id = occ.id
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    assert client.post("/login", data={"username": "bench", "password": "bench-password",
                                       "csrf_token": token}).status_code == 302
    print(f"  {n_items} items built in {build:.1f} s ({app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]})")
    for label, path in QUERIES:
        path = path.format(occ=occ_id)
        client.get(path)  # warm
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            resp = client.get(path)
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200
        times.sort()
        print(f"  {label:<30} median {statistics.median(times):7.1f} ms   p90 {times[int(0.9 * len(times)) - 1]:7.1f} ms"
              f"   (target: median < 200 ms)")
    with app.app_context():
        if not url.startswith("sqlite"):
            db.drop_all()
        db.engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--pg", default="postgresql+psycopg://examsys:examsys@127.0.0.1:5432/examsys_bench",
                    help="PostgreSQL URL of a scratch database (created when missing; its tables are dropped)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite (file, WAL):")
        run(f"sqlite:///{tmp}/bench.sqlite", args.items, args.repeats)
    if args.pg:
        print("PostgreSQL:")
        run(args.pg, args.items, args.repeats)


if __name__ == "__main__":
    main()
