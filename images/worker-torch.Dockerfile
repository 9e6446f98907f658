# Worker image with PyTorch: the SDK's worker extras plus the `torch` extra, for estimators that
# are PyTorch modules. CPU wheels by default; for CUDA pass the matching PyTorch index, e.g.
#   docker build -f images/worker-torch.Dockerfile \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 \
#     -t sedna-py/worker-torch:0.1.0-cu124 .
# Build from the repository root:
#   docker build -f images/worker-torch.Dockerfile -t sedna-py/worker-torch:0.1.0 .

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build

# Builds without a reachable package index (air-gapped, or a proxy with its own CA) point pip
# at a wheelhouse instead, e.g. --network host --build-arg PIP_FIND_LINKS=http://127.0.0.1:8000/
# --build-arg PIP_NO_INDEX=1 (see images/README.md). Unset, pip uses PyPI as usual.
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# torch first, from the chosen index, in a layer of its own (it is large).
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch>=2.2,<3"
COPY pyproject.toml README.md images/requirements.py ./
# Dependencies in a layer of their own: a source change does not reinstall them.
RUN python3 requirements.py worker torch > requirements.txt \
 && pip install --no-cache-dir -r requirements.txt "boto3>=1.34,<2"
COPY crds/ crds/
COPY operator/ operator/
COPY workers/ workers/
COPY market/ market/
# Our own package as a wheel, installed in the runtime stage on its own (see there).
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist ./


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="sedna-worker-torch" \
      org.opencontainers.image.description="Sedna worker SDK base image with PyTorch" \
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

CMD ["python"]
