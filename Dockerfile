# labplatform: one image for every role. The command picks it (scripts/entrypoint.sh):
#   web (daphne on 0.0.0.0:8000), worker, beat, migrate, or manage <command>.
# Settings come from the environment (README: Settings); nothing secret is baked in.

# Browser libraries (xterm.js, htmx, mermaid), served as static files under /static/vendor/;
# not the devDependencies (ESLint), which only lint.
FROM node:22-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# The virtualenv and the collected static files. Every dependency ships wheels for
# CPython 3.11 on Linux (psycopg[binary] included), so no compiler is needed even here.
FROM python:3.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --requirement /tmp/requirements.txt
WORKDIR /app
COPY manage.py ./
COPY labplatform ./labplatform
COPY lessons ./lessons
COPY --from=assets /src/node_modules ./node_modules
# collectstatic only imports the settings: the key is a placeholder and no database is opened.
RUN SECRET_KEY=collectstatic-only STATIC_ROOT=/app/staticfiles LABPLATFORM_RUN_DIR=/tmp/build \
    python manage.py collectstatic --noinput --verbosity 0

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STATIC_ROOT=/app/staticfiles \
    LABPLATFORM_RUN_DIR=/tmp/labplatform
# The code is root-owned and read-only to the process, which writes only to /tmp.
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin labplatform
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY manage.py ./
COPY labplatform ./labplatform
COPY lessons ./lessons
COPY scripts/entrypoint.sh ./scripts/entrypoint.sh
COPY --from=builder /app/staticfiles ./staticfiles
USER 10001:10001
EXPOSE 8000
# No HEALTHCHECK: the same image runs the worker and beat, which serve no HTTP; compose
# and Kubernetes probe the web role's /livez and /healthz themselves.
ENTRYPOINT ["/app/scripts/entrypoint.sh"]
CMD ["web"]
