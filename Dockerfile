# syntax=docker/dockerfile:1
# Two stages: build a virtualenv with the package, then copy it into a slim runtime that runs as
# a non-root user. Builder and runtime share the Python version and the venv path.

FROM python:3.12-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /app/.venv
WORKDIR /src
# Dependencies first, so a source change does not reinstall them: exactly the versions in the
# lock, each file checked against its hash (requirements/update writes the lock). The lock holds
# the otel extra too: the image can trace (docs/tracing.md), off until OTEL_TRACES_EXPORTER is set.
COPY requirements/base.txt requirements/base.txt
RUN /app/.venv/bin/pip install --require-hashes -r requirements/base.txt
# Then the package alone: its dependencies are all there (pip refuses to check hashes of a
# package built from source, hence two steps).
COPY pyproject.toml README.md ./
COPY graphql_api graphql_api
RUN /app/.venv/bin/pip install --no-deps . \
    && /app/.venv/bin/python -m compileall -q /app/.venv

FROM python:3.12-slim-bookworm
LABEL org.opencontainers.image.title="graphql-api" \
      org.opencontainers.image.description="GraphQL facade over the Pinterest API v5 catalog products" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 999 app && useradd --system --uid 999 --gid app --no-create-home app
COPY --from=builder --chown=app:app /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    GRAPHQL_API_HOST=0.0.0.0 \
    GRAPHQL_API_PORT=8000 \
    GRAPHQL_API_DEMO=1
USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["graphql-api", "serve"]
