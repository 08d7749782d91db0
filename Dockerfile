# incidentcore: `docker build -t incidentcore .` then `docker run -p 8000:8000 -v incidentcore-data:/data
# -e SECRET_KEY=... incidentcore`. See compose.yaml for Postgres with a separate worker.

# Stage 1: wheels of incidentcore and every dependency, built where the build tools are.
FROM python:3.11-slim AS wheels
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: only the installed wheels, run as an unprivileged user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/incidentcore.db \
    LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home incidentcore
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /data
# The embedded SQLite database lives here; keep it on a volume. With DATABASE_URL=postgresql://...
# nothing is written here.
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
# SIGTERM stops it gracefully within 2 x SHUTDOWN_GRACE_SECONDS (requests in flight, then pages being sent).
STOPSIGNAL SIGTERM
CMD ["incidentcore", "serve", "--host", "0.0.0.0", "--port", "8000"]
