# Allmine live-stream API. One image for the API (`allmine-live`) and the fake AIOZ (`aioz-fake`).
# Base image pinned to an exact Python patch and Debian release (bump deliberately, with the lock files).
FROM python:3.11.14-slim-trixie

# APP_ENV=production is the safe default: without real settings the API refuses to start
# (docker-compose.yml sets development for the local stack).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production

# Runtime dependencies exactly as locked (hash-checked, no resolution), in their own layer so code changes
# do not reinstall them; then the package itself from a throwaway copy of the source, without dependencies.
WORKDIR /tmp/src
COPY requirements/main.txt requirements/main.txt
RUN pip install --require-hashes --no-deps -r requirements/main.txt
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-deps --no-build-isolation . && cd / && rm -rf /tmp/src

# Non-root runtime user; var/media (uploaded thumbnails, MEDIA_DIR) must be writable by it.
WORKDIR /srv/allmine
RUN useradd --system --uid 10001 --no-create-home --home-dir /srv/allmine --shell /usr/sbin/nologin allmine \
    && mkdir -p var/media \
    && chown -R allmine:allmine /srv/allmine
USER allmine

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

CMD ["allmine-live", "--host", "0.0.0.0", "--port", "8000"]
