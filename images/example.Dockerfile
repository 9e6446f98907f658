# An example's image: the worker image plus one example directory (scripts, index files,
# initial models) at /home/work, the working directory the example manifests name. Build from
# the repository root, once per example, tagged as its manifests name the images, e.g.
#   docker build -f images/example.Dockerfile --build-arg EXAMPLE=incremental_learning \
#     -t sedna-example/il-digits:v0.1 .
# (`python -m e2e.node images` builds and tags all of them.)

ARG WORKER_IMAGE=sedna-py/worker:0.1.0

FROM ${WORKER_IMAGE}

ARG EXAMPLE

LABEL org.opencontainers.image.title="sedna-example" \
      org.opencontainers.image.description="A sedna-py example's worker scripts and data" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --chown=10001:10001 examples/${EXAMPLE}/ /home/work/

USER 10001:10001
WORKDIR /home/work
