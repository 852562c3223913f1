"""One settings module, driven by environment variables (see `.env.example`).

With no variables set, the console runs on its embedded default: SQLite and a broker
under `DATA_DIR`, no system service needed.
"""

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env")  # optional; real environment variables win

DEBUG = env.bool("DJANGO_DEBUG", default=False)
DATA_DIR = Path(env("DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# The embedded default: no DATABASE_URL means a single machine with SQLite under DATA_DIR.
EMBEDDED = "DATABASE_URL" not in env


def _secret_key() -> str:
    if key := env("DJANGO_SECRET_KEY", default=""):
        return key
    if not (EMBEDDED or DEBUG):
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (required with DATABASE_URL).")
    # One random key per data folder, kept so that sessions survive a restart.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "mlplatform.core",
    "mlplatform.quotas",
    "mlplatform.gcp",
    "mlplatform.storage",
    "mlplatform.compute",
    "notebooks_app",
    "training_app",
    "prediction_app",
    "distributed_app",
    "mlplatform.console",  # above the apps: pages and setup that span them
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "mlplatform.gcp.middleware.MethodOverrideMiddleware",  # before anything reads the method
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mlplatform.core.middleware.ApplicationErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "mlplatform.urls"
ASGI_APPLICATION = "mlplatform.asgi.application"
WSGI_APPLICATION = "mlplatform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mlplatform.core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at the same time: WAL and immediate transactions.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Under ASGI every request runs in a thread of its own, and a persistent connection stays behind
    # with it: a burst of requests left one idle connection each (`too many clients`). A pool bounds
    # them: a request waits up to DATABASE_POOL_TIMEOUT seconds for one of DATABASE_POOL_SIZE.
    # DATABASE_POOL_SIZE=0 turns the pool off (for a pooler such as PgBouncer in front).
    if pool_size := env.int("DATABASE_POOL_SIZE", default=10):
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django must not as well
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": pool_size,
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=30.0),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Images run collectstatic at build time and set STATIC_COLLECTED=true to serve hashed, compressed
# files from STATIC_ROOT; everywhere else assets are served straight from the source tree.
STATIC_COLLECTED = env.bool("STATIC_COLLECTED", default=False)
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(DATA_DIR / "static")))
if not STATIC_COLLECTED:
    STATIC_ROOT.mkdir(exist_ok=True)  # ServeStatic warns about a missing one
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"
        if STATIC_COLLECTED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
SERVESTATIC_USE_FINDERS = not STATIC_COLLECTED

# --- Redis and Celery -------------------------------------------------------------------
# Without REDIS_URL, `manage.py runconsole` starts an embedded Redis and passes its socket on.
REDIS_URL = env("REDIS_URL", default=f"unix://{DATA_DIR / 'redis.sock'}")


def _broker_url(redis_url: str) -> str:
    """Kombu spells a Redis unix socket `redis+socket://`."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=_broker_url(REDIS_URL))
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 5}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# --- APIs -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mlplatform.core.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["mlplatform.core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mlplatform.core.exception_handler.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ML platform console API",
    "DESCRIPTION": "Projects, members, API tokens, GPU flavors and quotas, storage connections and "
    "objects, workloads and queues, and notebooks. Authenticate with `Authorization: Bearer <token>`. "
    "The Google-compatible APIs (`/v1/` ml, `/v2/` notebooks) follow Google's discovery documents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["mlplatform.core.authentication.native_api_only"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mlplatform.core.schema.truthful_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "WorkloadStateEnum": "mlplatform.compute.models.Workload.State",
        "WorkloadKindEnum": "mlplatform.compute.models.Workload.Kind",
        "NotebookStateEnum": "notebooks_app.models.Notebook.State",
        "JobStateEnum": "training_app.models.Job.State",
        "StorageKindEnum": "mlplatform.storage.models.StorageConnection.Kind",
    },
    # Swagger UI's assets come from drf-spectacular-sidecar: the docs page works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- The platform -----------------------------------------------------------------------
# Public URL of the console, used in snippets and links it shows (e.g. the googleapiclient one).
CONSOLE_URL = env("CONSOLE_URL", default="")
# Locations (AI Platform / Workbench regions) this console serves; the embedded default is local.
PLATFORM_LOCATIONS = env.list("PLATFORM_LOCATIONS", default=["local"])
API_TOKEN_PREFIX = "mlp_"
# The image model versions serve in on image backends (docker/predictor builds it).
PREDICTOR_IMAGE = env("PREDICTOR_IMAGE", default="mlplatform/predictor:latest")
# The currency of the flavors' hourly prices (an ISO 4217 code), in which costs are shown.
PRICE_CURRENCY = env("PRICE_CURRENCY", default="USD")

# --- Object storage ---------------------------------------------------------------------
# Fernet keys that encrypt storage credentials at rest; the first encrypts, all decrypt.
# Unset: one key derived from DJANGO_SECRET_KEY.
STORAGE_ENCRYPTION_KEYS = env.list("STORAGE_ENCRYPTION_KEYS", default=[])
# Folders that local buckets live in (bucket `demo` is STORAGE_LOCAL_ROOT/demo).
STORAGE_LOCAL_ROOT = Path(env("STORAGE_LOCAL_ROOT", default=str(DATA_DIR / "buckets")))
# The largest upload the console accepts, in bytes (default 5 GiB).
STORAGE_UPLOAD_MAX_BYTES = env.int("STORAGE_UPLOAD_MAX_BYTES", default=5 * 1024**3)

# --- Logging ----------------------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The periodic admission and status passes run every few seconds: one line each is noise.
        # Failures still log (ERROR); LOG_LEVEL=DEBUG shows every task.
        **{
            name: {"level": "DEBUG" if LOG_LEVEL.upper() == "DEBUG" else "WARNING"}
            for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
        },
    },
}

# --- Compute --------------------------------------------------------------------------------
# Where admitted workloads run: "local" (child processes; the embedded default) or "kubernetes"
# (in-cluster config or KUBECONFIG). Empty: kubernetes when a cluster is configured, else local.
COMPUTE_BACKEND = env("COMPUTE_BACKEND", default="")
# The local backend's GPUs: empty detects them with nvidia-smi; a count ("0": none) or indexes ("0,2").
LOCAL_GPUS = env("LOCAL_GPUS", default="")
# How the console reaches workloads' Services (a notebook's Jupyter) on Kubernetes: "cluster-dns"
# from inside the cluster, "api-server" through the API server's service proxy from outside it;
# "auto" picks by where the console runs.
KUBERNETES_SERVICE_ACCESS = env("KUBERNETES_SERVICE_ACCESS", default="auto")
# How often the periodic admission and status passes run, in seconds.
COMPUTE_SYNC_SECONDS = env.int("COMPUTE_SYNC_SECONDS", default=5)
