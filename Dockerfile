# Sinkron node image.
#
# Users with a registry get the official Python image; on a machine without one,
# build a base first (scripts/build-base-image.sh -> sinkron-base:bookworm) and pass
#   --build-arg BASE_IMAGE=sinkron-base:bookworm
# The project and its runtime dependencies come from ./wheelhouse (built on the host with
# `harness image build`, which runs `pip wheel`), so the build itself needs no network.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Tools the nemesis uses inside the container (already present in sinkron-base).
RUN if ! command -v iptables >/dev/null || ! command -v ip >/dev/null || ! command -v pkill >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends iproute2 iptables procps \
      && rm -rf /var/lib/apt/lists/*; \
    fi

COPY wheelhouse/ /tmp/wheelhouse/
RUN python3 -m venv /opt/sinkron \
    && /opt/sinkron/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
        -r /tmp/wheelhouse/requirements-node.txt \
    && /opt/sinkron/bin/pip install --no-cache-dir --no-index --no-deps --find-links /tmp/wheelhouse sinkron \
    && rm -rf /tmp/wheelhouse

ENV PATH=/opt/sinkron/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SINKRON_HTTP_HOST=0.0.0.0 \
    SINKRON_HTTP_PORT=7000 \
    SINKRON_PEER_HOST=0.0.0.0 \
    SINKRON_PEER_PORT=7100 \
    SINKRON_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 7000 7100
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=5 \
  CMD python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:7000/health', timeout=1)" || exit 1
STOPSIGNAL SIGTERM
CMD ["python3", "-m", "impl.runtime"]
