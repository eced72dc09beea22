"""Settings for labplatform, all read from the environment (see labplatform/env.py).

The defaults run the platform on one machine (`make up`): SQLite, Redis on
localhost and the local KWOK cluster. Production sets DATABASE_URL, REDIS_URL,
SECRET_KEY(_FILE) and ALLOWED_HOSTS, and runs in a pod with in-cluster config.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from labplatform.env import (
    env_bool,
    env_int,
    env_json_object,
    env_list,
    env_path,
    env_secret,
    env_url,
    json_file_object,
)

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = env_path("LABPLATFORM_RUN_DIR", BASE_DIR / ".run")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY", default="insecure-development-key" if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "labplatform",
    "labplatform.classroom",
    "labplatform.cohorts",
    "labplatform.environments",
    "labplatform.terminal",
    "lessons",
    "labplatform.teaching",
    "axes",
]

MIDDLEWARE = [
    # First, so every log line written while a request is served carries its id.
    "labplatform.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "labplatform.urls"
ASGI_APPLICATION = "labplatform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "labplatform.cohorts.context_processors.student_banners",
            ],
        },
    },
]

_database_url = env_url(
    "DATABASE_URL",
    f"sqlite:///{RUN_DIR / 'db.sqlite3'}",
    schemes={"sqlite", "postgres", "postgresql"},
)
# 0: a connection per request. Under daphne a sync view runs in a thread of a pool, and a
# kept connection stays with its thread: bench/web hit PostgreSQL's 100 connections with
# 60 s. Workers (one thread per process) may keep theirs.
try:
    DATABASES = {
        "default": dj_database_url.parse(
            _database_url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0), conn_health_checks=True
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Celery workers and the web process write concurrently; wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes={"redis", "rediss"})

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # A consumer waits on a blocking pop of 5 s; redis-py's default 5 s socket timeout
        # would make the pop's empty answer, due at 5 s, time out and close the socket.
        # redis-py's pool raises past 100 connections; hundreds of sockets closing at once
        # each hold one for their group_discard.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 2000}]},
    },
}

# Celery. Tasks are idempotent and acknowledged after they finish, so a killed worker's
# task is delivered again: acks_late alone does not do that for a killed prefork child,
# hence reject_on_worker_lost. Redis redelivers an unacknowledged task after
# visibility_timeout, found by a sweep every ~10 s x throttle; the timeout must stay
# longer than any countdown (5 s) and any task's run (at most ~3 min), and short enough
# that a lost task comes back within minutes.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300, minimum=10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10, minimum=1),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "labplatform.tasks.worker_heartbeat", "schedule": 30.0},
    # Workstation tokens last 24 h; refreshed every 6 h, they always have 18 h left.
    "workstation-tokens": {
        "task": "labplatform.environments.tasks.workstation_tokens_refresh_task",
        "schedule": 6 * 3600.0,
    },
    "attempts-stalled": {"task": "lessons.tasks.attempts_stalled_requeue", "schedule": 60.0},
    "cohorts-ended": {"task": "labplatform.environments.lifecycle.cohorts_ended_teardown", "schedule": 300.0},
}

# The Kubernetes clusters the platform can place cohorts on. "local" is the default:
# in a pod it is the cluster the pod runs in, elsewhere the kubeconfig below. For the
# local KWOK cluster `make cluster-up` writes one holding only the platform's own token.
LOCAL_CLUSTER_STATE_DIR = env_path(
    "LABPLATFORM_CLUSTER_STATE", Path.home() / ".local" / "state" / "labplatform" / "cluster"
)
LABPLATFORM_KUBECONFIG = env_path("LABPLATFORM_KUBECONFIG", LOCAL_CLUSTER_STATE_DIR / "platform-kubeconfig")
LABPLATFORM_IN_CLUSTER = "KUBERNETES_SERVICE_HOST" in os.environ and "LABPLATFORM_KUBECONFIG" not in os.environ
# The default cluster is the local KWOK one (exec rules, Unix users on this host) unless
# the platform was pointed elsewhere.
LABPLATFORM_LOCAL_KWOK = "LABPLATFORM_KUBECONFIG" not in os.environ and not LABPLATFORM_IN_CLUSTER
KUBERNETES_TIMEOUT_SECONDS = env_int("KUBERNETES_TIMEOUT_SECONDS", 10, minimum=1)
# The namespace the platform owns for students' workstations; students have no rights there.
WORKSTATION_NAMESPACE = os.environ.get("WORKSTATION_NAMESPACE", "labplatform-workstations")
# How workstations run: the image and whether it may be pulled, and the node pool they go
# to (nodes labelled and tainted WORKSTATION_NODE_POOL=true; "" for any node). On the local
# cluster they run on its real node, as k8s/local/node.sh wrote (its image, imported there
# and never pulled; its pool; the API server's address inside the node's namespace).
_LOCAL_NODE = json_file_object(LOCAL_CLUSTER_STATE_DIR / "node" / "workstation.json") if LABPLATFORM_LOCAL_KWOK else {}
WORKSTATION_IMAGE = os.environ.get("WORKSTATION_IMAGE", _LOCAL_NODE.get("image", "labplatform/workstation:dev"))
WORKSTATION_IMAGE_PULL_POLICY = os.environ.get(
    "WORKSTATION_IMAGE_PULL_POLICY", _LOCAL_NODE.get("pull_policy", "IfNotPresent")
)
WORKSTATION_NODE_POOL = os.environ.get("WORKSTATION_NODE_POOL", _LOCAL_NODE.get("node_pool", ""))
# The API server as workstation pods reach it ("" for the platform's own address; it must
# be in the API server certificate's names).
WORKSTATION_API_SERVER = os.environ.get("WORKSTATION_API_SERVER", _LOCAL_NODE.get("api_server", ""))
# Extra annotations on workstation pods (on a simulated KWOK node, {"labplatform.io/ready-delay":
# "20s"} makes one start slowly; the local cluster's real node starts them as containers start).
WORKSTATION_POD_ANNOTATIONS = env_json_object("WORKSTATION_POD_ANNOTATIONS", {})
# A terminal's shell outlives its connections: it is kept this long after the last one
# closes (reloads, dropped sockets, a restart of the web process reattach to it).
TERMINAL_GRACE_SECONDS = env_int("TERMINAL_GRACE_SECONDS", 600, minimum=0)
# A student's terminal connection closes after this long without a keystroke.
TERMINAL_IDLE_SECONDS = env_int("TERMINAL_IDLE_SECONDS", 1800, minimum=1)
# At most this many terminal sockets of one student's own at once, across every web
# process (a reload and a second tab fit); the next is refused, saying why.
TERMINAL_SOCKETS_PER_STUDENT = env_int("TERMINAL_SOCKETS_PER_STUDENT", 4, minimum=1)
# At most this many read-only watches of one instructor at once; they never count
# against the student watched.
TERMINAL_WATCHES_PER_INSTRUCTOR = env_int("TERMINAL_WATCHES_PER_INSTRUCTOR", 8, minimum=1)
# Check: a student may press it once per this many seconds (across tasks).
LESSONS_CHECK_INTERVAL_SECONDS = env_int("LESSONS_CHECK_INTERVAL_SECONDS", 3, minimum=0)
# A check that waits on the cluster (pods becoming Ready, an EndpointSlice catching up)
# stays pending while the cluster gets further; it fails, saying what was still not ready,
# after this long without progress, or after the ceiling in any case.
LESSONS_PENDING_SECONDS = env_int("LESSONS_PENDING_SECONDS", 45, minimum=1)
LESSONS_PENDING_CEILING_SECONDS = env_int("LESSONS_PENDING_CEILING_SECONDS", 300, minimum=1)
# A task's latest this many attempts per student keep their evidence (the compared fields'
# values, bounded: lessons/grading/evidence.py); older ones keep their verdicts and messages.
LESSONS_EVIDENCE_ATTEMPTS = env_int("LESSONS_EVIDENCE_ATTEMPTS", 5, minimum=1)
INVITE_VALID_DAYS = env_int("INVITE_VALID_DAYS", 14, minimum=1)
# Students of a cohort are warned on every page this long before it ends and their
# environments are torn down; "end now" ends a cohort this long from now.
ENDING_WARNING_HOURS = env_int("ENDING_WARNING_HOURS", 24, minimum=1)
# The instructor dashboard calls a student stuck after this many Checks on one task
# without a pass, or this long idle with a task open.
DASHBOARD_STUCK_ATTEMPTS = env_int("DASHBOARD_STUCK_ATTEMPTS", 3, minimum=1)
DASHBOARD_STUCK_IDLE_MINUTES = env_int("DASHBOARD_STUCK_IDLE_MINUTES", 10, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# /healthz shows each dependency's details only to a staff session or to a caller sending
# `Authorization: Bearer HEALTHZ_TOKEN` (or _FILE); anyone else, the kubelet's probes
# included, gets the status code alone. Unset: no token opens the details.
HEALTHZ_TOKEN = env_secret("HEALTHZ_TOKEN", default="")
if HEALTHZ_TOKEN and len(HEALTHZ_TOKEN) < 32:
    raise ImproperlyConfigured(
        "HEALTHZ_TOKEN must be at least 32 characters; make one with "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )

# Sign-in throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one
# username from one address, that username is locked out from that address for
# LOGIN_LOCKOUT_MINUTES after the last failure, even with the right password; a success
# before that clears the count. Tries made while locked out do not extend it. Admins unlock
# in the admin (Axes: Access attempts) or with `manage.py axes_reset_username NAME`. The
# address is REMOTE_ADDR: behind the ingress, daphne's --proxy-headers (the image's web
# role) sets it from X-Forwarded-For, which the NGINX ingress controller writes.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: it refuses a locked-out sign-in
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "labplatform.login_throttle.lockout_response"
# Failed attempts are kept (the admin's list); successful sign-ins are not logged. Its
# log lines mask usernames and addresses; no start-up banner on every command.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Set for `collectstatic` in images; without it static files are served from the apps
# and node_modules directly.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
# Only the folders of node_modules that pages load, under /static/vendor/: the whole of it
# (ESLint and its dependencies too, over 10,000 files) was public, and WhiteNoise indexed
# every file each time a handler started (each test client: seconds on a loaded machine).
VENDOR_FOLDERS = ("@xterm/xterm/css", "@xterm/xterm/lib", "@xterm/addon-fit/lib", "htmx.org/dist", "mermaid/dist")
STATICFILES_DIRS = [
    (f"vendor/{folder}", BASE_DIR / "node_modules" / folder)
    for folder in VENDOR_FOLDERS
    if (BASE_DIR / "node_modules" / folder).is_dir()
]
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
# Behind TLS in production; `make up` serves plain HTTP on localhost.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# `plain` for people reading a terminal (`make up`); `json` for log collectors: one JSON
# object per line on stdout, with the request id (labplatform/request_id.py). Celery's
# worker and beat log through this too (labplatform/celery.py).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "labplatform.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "labplatform.log_format.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
            **({"stream": "ext://sys.stdout"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"kubernetes": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
