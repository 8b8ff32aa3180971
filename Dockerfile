# skubridge service image.
#
#   docker build -t skubridge .
#   export API_TOKEN=... SECRET_KEY=...   # each: python -c "import secrets; print(secrets.token_urlsafe(32))"
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -e API_TOKEN -e SECRET_KEY -p 8000:8000 skubridge       # API
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -e API_TOKEN -e SECRET_KEY skubridge skubridge worker   # worker
#   docker run -e DATABASE_URL=... -e API_TOKEN -e SECRET_KEY skubridge skubridge migrate                 # migrations
#   docker run -e DATABASE_URL=... -e API_TOKEN -e SECRET_KEY -e SECRET_KEYS skubridge skubridge rotate-keys
#
# The same image runs the worker: override the command with `skubridge worker`. The image is
# production: without API_TOKEN and SECRET_KEY (at least 32 characters each) it refuses to start.
FROM python:3.11-slim

ENV ENVIRONMENT=production \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 skubridge \
 && useradd --system --uid 10001 --gid skubridge --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin skubridge

WORKDIR /app

COPY pyproject.toml requirements.lock alembic.ini ./
COPY app ./app
COPY workers ./workers
COPY migrations ./migrations

# Exact versions, each file checked against the lock's sha256; then the service itself.
RUN pip install --require-hashes -r requirements.lock \
 && pip install --no-deps . \
 && rm -rf build ./*.egg-info

USER skubridge

EXPOSE 8000

CMD ["skubridge", "api", "--host", "0.0.0.0", "--port", "8000"]
