# Two stages: build a virtualenv with the package, then copy it into a slim runtime that runs as
# a non-root user. Builder and runtime share the base image (one ARG), so the venv's Python is
# the runtime's. No `# syntax=` line: the builder's own Dockerfile frontend, nothing more pulled.
#
# The base image, by exact tag: Python 3.12 (the service supports 3.11+; the lock holds the
# wheels of every platform and Python, cp312 included), the newest 3.12 patch release known to
# be published as slim-bookworm: Debian 12 (glibc 2.36), like the development machine. Pin it by
# digest where a registry can be asked for one:
#   docker build --build-arg PYTHON_IMAGE=python:3.12.15-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.12.15-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /app/.venv
WORKDIR /src
# Dependencies first, so a source change does not reinstall them: exactly the versions in the
# lock, each file checked against its hash (requirements/update writes the lock). The lock holds
# the otel extra too: the image can trace (docs/tracing.md), off until OTEL_TRACES_EXPORTER is set.
COPY requirements/base.txt requirements/base.txt
RUN /app/.venv/bin/pip install --require-hashes -r requirements/base.txt
# The build backend from its own lock (requirements/build.txt, hashes checked), in a venv of its
# own: the package is built with nothing unpinned downloaded, and hatchling stays out of the image.
COPY requirements/build.txt requirements/build.txt
RUN python -m venv /build && /build/bin/pip install --require-hashes -r requirements/build.txt
# Then the package alone, as a wheel: its dependencies are all there (pip refuses to check hashes
# of a package built from source, hence two steps). Bytecode is compiled here, never checked
# against the source at run time (unchecked-hash): a read-only root filesystem recompiles nothing.
COPY pyproject.toml README.md ./
COPY graphql_api graphql_api
RUN /build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /app/.venv/bin/pip install --no-deps /wheels/graphql_api-*.whl \
    && /app/.venv/bin/python -m compileall -q --invalidation-mode unchecked-hash /app/.venv

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="graphql-api" \
      org.opencontainers.image.description="GraphQL facade over the Pinterest API v5 catalog products" \
      org.opencontainers.image.licenses="MIT"
# A numeric user (uid and gid 999): Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 999 app \
    && useradd --system --uid 999 --gid app --no-create-home --home-dir /nonexistent app
COPY --from=builder /app/.venv /app/.venv
# The production profile (GraphiQL, introspection and "did you mean" suggestions off) unless
# told otherwise. No demo: give GRAPHQL_API_DEMO=1 for the embedded demo catalog, or
# PINTEREST_ACCESS_TOKEN (or nothing: each caller's own bearer token goes upstream) for the
# real API. Every setting: docs/settings.md.
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GRAPHQL_API_ENV=production \
    GRAPHQL_API_HOST=0.0.0.0 \
    GRAPHQL_API_PORT=8000
USER 999:999
EXPOSE 8000
# Liveness: /healthz on the port and interface the service was given at run time
# (GRAPHQL_API_PORT, GRAPHQL_API_HOST; every interface is asked on loopback). No curl in slim.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; host = os.environ.get('GRAPHQL_API_HOST', '127.0.0.1'); host = {'0.0.0.0': '127.0.0.1', '': '127.0.0.1', '::': '[::1]'}.get(host, f'[{host}]' if ':' in host else host); port = os.environ.get('GRAPHQL_API_PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://{host}:{port}/healthz', timeout=2).status != 200)"]
# SIGTERM (docker stop, Kubernetes): /readyz answers 503 at once, requests are served for
# GRAPHQL_API_DRAIN_DELAY seconds (5) so the load balancer moves off, in-flight requests get up
# to GRAPHQL_API_SHUTDOWN_TIMEOUT (20) more, then the process exits 0. A bad setting exits 2,
# a failed start 1. Give the drain its time: docker stop -t 30 (docker's default, 10 s, kills
# the process mid-drain: exit 137), terminationGracePeriodSeconds >= 30 in Kubernetes.
# With GRAPHQL_API_WORKERS > 1 the metrics of every worker live in PROMETHEUS_MULTIPROC_DIR
# (a fresh directory under /tmp unless set): /tmp must be writable (an emptyDir under a
# read-only root filesystem).
STOPSIGNAL SIGTERM
CMD ["graphql-api", "serve"]
