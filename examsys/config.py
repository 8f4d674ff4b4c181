"""Configuration classes read from the environment.

``DATABASE_URL`` selects the database (default: SQLite file under ``instance/``), ``SECRET_KEY`` signs
sessions (a random key per process is used when unset, which is fine for one worker only), ``MEDIA_DIR``
holds uploaded images stored by content hash. ``EXAMSYS_PROXY_FIX=n`` trusts ``X-Forwarded-For/-Proto/-Host/
-Prefix`` from ``n`` reverse proxies (nginx in front: 1); ``EXAMSYS_STATION_KEYS`` is the directory of the
station package keys (docs/deployment.md).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _normalise_db_url(url: str) -> str:
    """Map ``postgresql://`` / ``postgres://`` URLs onto the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    INSTANCE_DIR = Path(os.environ.get("EXAMSYS_INSTANCE", ROOT / "instance"))
    SECRET_KEY = os.environ.get("SECRET_KEY") or None  # None: a key kept in instance/secret_key (see create_app)
    SQLALCHEMY_DATABASE_URI = _normalise_db_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'examsys.sqlite'}"
    )
    # No pool_pre_ping: it costs a round trip on every request (measured: ~1.8 ms of a 9 ms heartbeat).
    # Connections are recycled after 30 min instead; after a database restart the first request on each old
    # connection fails, SQLAlchemy then drops the whole pool, and the exam page retries unacknowledged saves.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_recycle": 1800}
    MEDIA_DIR = Path(os.environ.get("MEDIA_DIR", INSTANCE_DIR / "media"))
    # Session cookie: HttpOnly, SameSite, Secure (browsers treat 127.0.0.1/localhost as secure contexts).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("EXAMSYS_INSECURE_COOKIES") != "1"
    SESSION_COOKIE_NAME = "examsys_session"
    PERMANENT_SESSION_LIFETIME = 12 * 3600  # seconds
    # The cookie is re-signed only when its content changes, not on every request: the login session's
    # lifetime is kept on the server (auth_session.expires_at, fixed at login), so refreshing the cookie's
    # expiry bought nothing and cost a signature and a Set-Cookie header per request (~0.3 ms of CPU).
    SESSION_REFRESH_EACH_REQUEST = False
    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session (an exam lasts hours)
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024  # bytes, whole request
    MAX_IMPORT_BYTES = 20 * 1024 * 1024  # bytes, one uploaded spreadsheet
    MAX_IMAGE_BYTES = 5 * 1024 * 1024  # bytes, one uploaded image
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh", "en")
    # Login throttling: lock after this many failures per account and per address.
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_SECONDS = 15 * 60
    # Key used to encrypt ID numbers (身份证号) at rest and to HMAC them for lookup.
    PII_KEY = os.environ.get("EXAMSYS_PII_KEY")
    # Behind a reverse proxy: how many proxies' X-Forwarded-* headers to trust (0 = none: direct clients).
    # Without it every request seems to come from nginx's address, and the per-address login throttle
    # would lock out everyone at once.
    PROXY_FIX = int(os.environ.get("EXAMSYS_PROXY_FIX") or 0)
    # Station packages: one key file per station (<CODE>.key), see services/station_package.py.
    STATION_KEYS_DIR = Path(os.environ.get("EXAMSYS_STATION_KEYS", INSTANCE_DIR / "station_keys"))
    # Post-finalisation (machine marking, the audit entry of a hand-in; services/post_finalise.py): False =
    # in a background thread per process, after a quiet moment of EXAMS_POST_FINALISE_DELAY seconds since the
    # last hand-in (at most 10 s after the first); True = in the request, right after the hand-in's commit.
    EXAMS_POST_FINALISE_INLINE = False
    EXAMS_POST_FINALISE_DELAY = 1.0  # seconds
    TESTING = False


def instance_secret_key(instance_dir: Path) -> str:
    """The key in ``instance/secret_key``, created (mode 0600) on first use, so sessions survive a restart of
    a local server. Deployments set SECRET_KEY (one value for every worker and server)."""
    path = Path(instance_dir) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it just now
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = _normalise_db_url(os.environ.get("TEST_DATABASE_URL", "sqlite://"))
    SESSION_COOKIE_SECURE = False
    WTF_CSRF_ENABLED = True
    PII_KEY = "test-pii-key-0123456789abcdef0123456789abcdef"
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast in tests only
    EXAMS_POST_FINALISE_INLINE = True  # marks and audit entries right after a hand-in, as tests expect
