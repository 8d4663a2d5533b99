# botfleet's image: the locked runtime dependencies, then the package itself.
FROM python:3.11-slim
WORKDIR /app
RUN pip install --no-cache-dir uv
COPY requirements/base.lock requirements/base.lock
RUN uv pip install --system --no-cache -r requirements/base.lock
COPY . .
RUN uv pip install --system --no-cache --no-deps .
WORKDIR /fleet
ENTRYPOINT ["botfleet"]
CMD ["run", "/fleet/fleet.yaml"]
