# Worker image with PyTorch: the SDK's worker extras plus the `torch` extra, for estimators that
# are PyTorch modules. CPU wheels by default; for CUDA pass the matching PyTorch index, e.g.
#   docker build -f images/worker-torch.Dockerfile \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 \
#     -t sedna-py/worker-torch:0.1.0-cu124 .
# Build from the repository root:
#   docker build -f images/worker-torch.Dockerfile -t sedna-py/worker-torch:0.1.0 .

FROM python:3.11-slim AS build

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

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
# torch first, from the chosen index; the SDK install then finds it already satisfied.
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch>=2.2,<3" \
 && pip install --no-cache-dir "./[worker,torch]" "boto3>=1.34,<2"


FROM python:3.11-slim

LABEL org.opencontainers.image.title="sedna-worker-torch" \
      org.opencontainers.image.description="Sedna worker SDK base image with PyTorch" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 sedna \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/sedna --create-home \
      --shell /usr/sbin/nologin sedna \
 && mkdir -p /home/work \
 && chown 10001:10001 /home/work

COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/home/work

USER 10001:10001
WORKDIR /home/work

CMD ["python"]
