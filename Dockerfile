# One image for every Millimetric service. The container's command picks the service:
#   docker run IMAGE gateway | ingest | query | migrate | admin …
# (see docker-compose.yml). Configuration is environment variables only (README, "Configuration").
#
#   docker build -t millimetric .
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: wheels of the six local packages and of every dependency --------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY libs/protocol/ libs/protocol/
COPY libs/runtime/ libs/runtime/
COPY services/gateway/ services/gateway/
COPY services/ingest/ services/ingest/
COPY services/query/ services/query/
COPY cli/ cli/
# All six are named in one command so pip satisfies `millimetric-protocol` & co. with these
# directories, never with a package of the same name from an index.
RUN pip wheel --wheel-dir /wheels \
        ./libs/protocol ./libs/runtime ./services/gateway ./services/ingest ./services/query ./cli
# The runtime environment, from those wheels only (--no-index). Base `millimetric`, so neither the
# `embedded` extra (PostgreSQL and broker binaries for `millimetric dev`) nor `dev` (test tools).
# The venv has no pip of its own: the builder's pip (22.3+ for --python) installs into it.
RUN python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-index --find-links=/wheels millimetric

# --- runtime: slim Python, the venv, an unprivileged user ----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="millimetric" \
      org.opencontainers.image.description="Millimetric: product analytics over MCP (gateway, ingest, query, migrate, admin)"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric id, so orchestrators can check "non-root" without resolving names.
RUN groupadd --system --gid 10001 millimetric \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin millimetric
# Same base image as the builder, so the venv's interpreter link (/usr/local/bin/python3.x) holds.
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
# gateway 8787, query 8788; ingest serves no port.
EXPOSE 8787 8788
ENTRYPOINT ["millimetric"]
CMD ["--help"]
