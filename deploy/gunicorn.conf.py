"""gunicorn settings for examsys (``make serve`` uses this file: ``gunicorn -c deploy/gunicorn.conf.py``).

Every value can be set from the environment, so the same file serves a laptop and a server:

==================  =====================================  ==================================================
variable            default                                meaning
==================  =====================================  ==================================================
``BIND``            ``127.0.0.1:8000``                     address nginx proxies to (never expose it directly)
``WORKERS``         2 × cores                              worker processes
``THREADS``         1                                      threads per worker: 1 = ``sync`` workers (default),
                                                           more = ``gthread``
``TIMEOUT``         60                                     seconds a request may take before its worker is
                                                           restarted (PDF papers and imports are the slow ones)
``GRACEFUL_TIMEOUT`` 30                                    seconds to finish requests on reload/stop
``ACCESS_LOG``      ``-`` (stderr)                         access log file; empty string = no access log
``MAX_REQUESTS``    5000                                   requests after which a worker is replaced (0: never)
==================  =====================================  ==================================================

The app keeps no state in the process (only caches of what never changes: frozen papers' item texts, attempts'
layouts, the candidate pages' rendered parts): login sessions, login-throttle counters, answers and the exam clock
live in the database; images live in ``MEDIA_DIR`` (shared storage when there is more than one server).
So workers, threads and further app servers behind a load balancer can be added freely.
"""
import gc
import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        n = int(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a whole number") from None
    if n < 1:
        raise SystemExit(f"{name} must be at least 1 (got {n})")
    return n


wsgi_app = "examsys:create_app()"
proc_name = "examsys"
# Load the app once in the master: a worker that dies (OOM, kill -9, max_requests) is back as a fork in ~0.1 s
# instead of re-importing everything, and the workers share the imported code's memory pages.
preload_app = True
bind = os.environ.get("BIND", "127.0.0.1:8000").split(",")
# Sync workers, two per core: a request is CPU-bound Python between short database round trips, so processes
# beat threads (no GIL hand-offs between a worker's threads). Measured with bench/delivery_load.py on 2 cores,
# 1,000 candidates: 4 sync workers vs 2 × 4 gthread — start burst p99 2.2 s vs 3.6 s, deadline burst p99
# 0.85 s vs 1.7 s, CPU per request 5.1 vs 5.9 ms. Sync workers need a buffering proxy in front (nginx: see
# deploy/nginx.conf.example) so a slow client never holds a worker.
workers = _int("WORKERS", 2 * multiprocessing.cpu_count())
threads = _int("THREADS", 1)
worker_class = "sync" if threads == 1 else "gthread"
timeout = _int("TIMEOUT", 60)
graceful_timeout = _int("GRACEFUL_TIMEOUT", 30)
keepalive = 5  # seconds; a little above nginx's upstream keepalive reuse
# Recycle workers now and then (bounded memory growth), staggered so they do not all restart together.
max_requests = int(os.environ.get("MAX_REQUESTS", "5000") or 0)  # 0: never (bench/delivery_load.py counts CPU per pid)
max_requests_jitter = max_requests // 10
# Only nginx on this machine may set X-Forwarded-*; the app trusts them through ProxyFix (EXAMSYS_PROXY_FIX).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files in memory, not on a possibly slow disk (matters in containers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Access log without personal data: no client address (%(h)s), no query string (%(q)s; %(U)s is the path
# only), no user name (%(u)s), no referer (%(f)s), no user agent (%(a)s). Candidate and staff identities
# are in the audit log, which is where they belong.
accesslog = os.environ.get("ACCESS_LOG", "-") or None
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms worker%(p)s'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
capture_output = True


# -- hooks ----------------------------------------------------------------------------------------------

def when_ready(server):
    """Master, app loaded (preload): move everything imported so far out of the garbage collector's sight.

    A worker holds ~220,000 long-lived objects (SQLAlchemy metadata, compiled templates, translations);
    without this each full collection walks all of them — measured at ~130 ms, a pause of every request
    the worker is serving. Frozen objects are never scanned (and their pages stay shared after fork)."""
    gc.collect()
    gc.freeze()


def post_fork(server, worker):
    """Worker: drop database connections inherited from the master (SQLAlchemy's rule for forked
    processes; preload may have opened one). ``close=False``: leave the master's sockets alone."""
    app = server.app.wsgi()
    if "sqlalchemy" not in getattr(app, "extensions", {}):
        return  # not examsys (bench/bare_app.py is served with this file too)
    from examsys.extensions import db
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
