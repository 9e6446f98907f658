# Storage initializer: the init container the operator injects into workers whose models or
# datasets are remote (http, https, s3). Its arguments are `<src> <dst>` pairs; it downloads
# each src into dst (an emptyDir that the workers mount read-only at /downloads).
# Build from the repository root:
#   docker build -f images/storage-initializer.Dockerfile -t sedna-py/storage-initializer:0.1.0 .

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build

# Builds without a reachable package index (air-gapped, or a proxy with its own CA) point pip
# at a wheelhouse instead, e.g. --network host --build-arg PIP_FIND_LINKS=http://127.0.0.1:8000/
# --build-arg PIP_NO_INDEX=1 (see images/README.md). Unset, pip uses PyPI as usual.
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md images/requirements.py ./
# Dependencies in a layer of their own (a source change does not reinstall them): the SDK's
# core ones (httpx for http/https) plus boto3 for s3.
RUN python3 requirements.py > requirements.txt \
 && pip install --no-cache-dir -r requirements.txt "boto3>=1.34,<2"
COPY crds/ crds/
COPY operator/ operator/
COPY workers/ workers/
COPY market/ market/
# Our own package as a wheel, installed in the runtime stage on its own (see there).
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist ./


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="sedna-storage-initializer" \
      org.opencontainers.image.description="Downloads remote models and datasets for Sedna workers" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 sedna \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/sedna --create-home \
      --shell /usr/sbin/nologin sedna

COPY --from=build /opt/venv /opt/venv
# The venv holds only the dependencies, so this layer stays cached across source changes
# (Docker checks the copied content) and a rebuild adds one small layer, not a new venv.
COPY --from=build /dist/ /tmp/dist/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-index --disable-pip-version-check /tmp/dist/*.whl \
 && rm -rf /tmp/dist
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

USER 10001:10001
WORKDIR /home/sedna

# Usage: storage-initializer <src> <dst> [<src> <dst> ...]
ENTRYPOINT ["python", "-m", "sedna.storage_initializer"]
