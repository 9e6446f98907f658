# Worker base image: the Sedna-compatible Python SDK (`from sedna.core... import ...`) with the
# worker extras (FastAPI/uvicorn inference servers, websockets aggregation client,
# scikit-learn, pandas) and boto3 for s3 URLs. Example and user images build FROM it and add
# their scripts under /home/work. Build from the repository root:
#   docker build -f images/worker.Dockerfile -t sedna-py/worker:0.1.0 .

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
# Dependencies in a layer of their own: a source change does not reinstall them.
RUN python3 requirements.py worker > requirements.txt \
 && pip install --no-cache-dir -r requirements.txt "boto3>=1.34,<2"
COPY crds/ crds/
COPY operator/ operator/
COPY workers/ workers/
COPY market/ market/
# Our own package as a wheel, installed in the runtime stage on its own (see there).
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist ./


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="sedna-worker" \
      org.opencontainers.image.description="Sedna worker SDK base image" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 sedna \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/sedna --create-home \
      --shell /usr/sbin/nologin sedna \
 && mkdir -p /home/work \
 && chown 10001:10001 /home/work

COPY --from=build /opt/venv /opt/venv
# The venv holds only the dependencies, so this layer stays cached across source changes
# (Docker checks the copied content) and a rebuild adds one small layer, not a new venv.
COPY --from=build /dist/ /tmp/dist/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-index --disable-pip-version-check /tmp/dist/*.whl \
 && rm -rf /tmp/dist
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/home/work

USER 10001:10001
WORKDIR /home/work

# Workers' commands come from the CR's pod template (e.g. ["python", "inference.py"]).
CMD ["python"]
