# labplatform: one image for every role. The command picks it (scripts/entrypoint.sh):
#   web (daphne on 0.0.0.0:8000), worker, beat, migrate, or manage <command>.
# Settings come from the environment (README: Settings); nothing secret is baked in.
#
#   docker build -t registry.example.com/labplatform/platform:0.1.0 .
#
# Build arguments, for a build without a network (k8s/local/images.sh builds it so, with
# buildah, for the local cluster's node):
#   PYTHON_IMAGE   CPython 3.11 on Debian bookworm, with `python3 -m venv` working
#   NODE_IMAGE     the stage that gathers the browser libraries (Node 22 for npm)
#   PACKAGES_FROM  "registry": npm and pip fetch from their registries; or "context": the
#                  build context's prefetched/ already holds node_modules/ (npm ci
#                  --omit=dev of package-lock.json) and wheels/ (every wheel of
#                  requirements.txt), so neither stage needs a network, nor npm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# Browser libraries (xterm.js, htmx, mermaid), served as static files under /static/vendor/;
# not the devDependencies (ESLint), which only lint.
FROM ${NODE_IMAGE} AS assets
ARG PACKAGES_FROM=registry
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY package.json package-lock.json ./
COPY prefetched/ /prefetched/
RUN case "$PACKAGES_FROM" in \
        registry) npm ci --omit=dev --no-audit --no-fund --loglevel=error ;; \
        context) cp -R /prefetched/node_modules ./node_modules ;; \
        *) echo "PACKAGES_FROM=$PACKAGES_FROM: registry or context" >&2; exit 1 ;; \
    esac \
    && test -f node_modules/@xterm/xterm/lib/xterm.js

# The virtualenv and the collected static files. Every dependency ships wheels for
# CPython 3.11 on Linux (psycopg[binary] included), so no compiler is needed even here.
FROM ${PYTHON_IMAGE} AS builder
ARG PACKAGES_FROM=registry
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
COPY prefetched/ /prefetched/
RUN case "$PACKAGES_FROM" in \
        registry) pip install --requirement /tmp/requirements.txt ;; \
        context) pip install --no-index --find-links /prefetched/wheels --requirement /tmp/requirements.txt ;; \
        *) echo "PACKAGES_FROM=$PACKAGES_FROM: registry or context" >&2; exit 1 ;; \
    esac
WORKDIR /app
COPY manage.py ./
COPY labplatform ./labplatform
COPY lessons ./lessons
COPY --from=assets /src/node_modules ./node_modules
# collectstatic only imports the settings: the key is a placeholder and no database is opened.
RUN SECRET_KEY=collectstatic-only STATIC_ROOT=/app/staticfiles LABPLATFORM_RUN_DIR=/tmp/build \
    python manage.py collectstatic --noinput --verbosity 0

FROM ${PYTHON_IMAGE}
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
