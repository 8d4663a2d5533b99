# botfleet's image: one image for every botfleet service of docker-compose.yml (fleet runner,
# simulator, UI, Prefect workers, `botfleet apply`). docs/deploy.md says how it is used.
#
# Stage 1 builds a virtualenv with uv from the locks: requirements/base.lock (the runtime) plus,
# pinned by requirements/dev.lock, the UI (streamlit), the ClickHouse client and playwright
# (drives the system Chromium for PDF reports). Every dependency ships binary wheels (TA-Lib's
# wheel bundles the C library), so no compiler is installed in either stage.
# Stage 2 is python:3.11-slim with that venv, the source at /app (flows/ and ui/ are read from
# there), Chromium for the PDF reports, and a non-root user `botfleet`.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv && uv venv /opt/venv
WORKDIR /app
COPY requirements/base.lock requirements/dev.lock requirements/
RUN uv pip install --no-cache -r requirements/base.lock \
 && uv pip install --no-cache -c requirements/dev.lock streamlit clickhouse-connect playwright
COPY . /app
# editable: the package runs from /app/src, so `botfleet ui` finds /app/ui and workers /app/flows
RUN uv pip install --no-cache --no-deps -e /app \
 && python -c "import botfleet.cli, talib, streamlit, playwright"

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-dejavu-core tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 botfleet \
 && useradd --system --uid 10001 --gid botfleet --home-dir /home/botfleet --create-home \
      --shell /usr/sbin/nologin botfleet \
 && mkdir -p /fleet /data \
 && chown botfleet:botfleet /data
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
ENV PATH=/opt/venv/bin:$PATH VIRTUAL_ENV=/opt/venv PYTHONUNBUFFERED=1 \
    BOTFLEET_FLOWS=/app/flows BOTFLEET_CHROMIUM=/usr/bin/chromium \
    PREFECT_HOME=/home/botfleet/.prefect \
    BOTFLEET_HEALTH_URL=http://127.0.0.1:9464/health
USER botfleet
WORKDIR /fleet
# The fleet runner's /health (`--metrics-port 9464`); other services set BOTFLEET_HEALTH_URL to
# their own endpoint (the UI: Streamlit's /_stcore/health) or a healthcheck in the compose file.
# A 503 (a failing check) or no answer makes the container unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['BOTFLEET_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["tini", "--", "botfleet"]
CMD ["run", "/fleet/fleet.yaml"]
