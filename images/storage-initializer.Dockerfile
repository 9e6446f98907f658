# Storage initializer: the init container the operator injects into workers whose models or
# datasets are remote (http, https, s3). Its arguments are `<src> <dst>` pairs; it downloads
# each src into dst (an emptyDir that the workers mount read-only at /downloads).
# Build from the repository root:
#   docker build -f images/storage-initializer.Dockerfile -t sedna-py/storage-initializer:0.1.0 .

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY crds/ crds/
COPY operator/ operator/
COPY workers/ workers/
COPY market/ market/
# The SDK's core dependencies (httpx for http/https) plus boto3 for s3.
RUN pip install --no-cache-dir "./" "boto3>=1.34,<2"


FROM python:3.11-slim

LABEL org.opencontainers.image.title="sedna-storage-initializer" \
      org.opencontainers.image.description="Downloads remote models and datasets for Sedna workers" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 sedna \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/sedna --create-home \
      --shell /usr/sbin/nologin sedna

COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

USER 10001:10001
WORKDIR /home/sedna

# Usage: storage-initializer <src> <dst> [<src> <dst> ...]
ENTRYPOINT ["python", "-m", "sedna.storage_initializer"]
