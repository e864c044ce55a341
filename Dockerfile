# Sinkron node image.
#
# Users with a registry get the official Python image; on a machine without one,
# build a base first (scripts/build-base-image.sh -> sinkron-base:bookworm) and pass
#   --build-arg BASE_IMAGE=sinkron-base:bookworm
# `harness image build` does all of it. The project and its runtime dependencies come
# from ./wheelhouse (built on the host with `pip wheel`), so the build needs no network:
#   wheelhouse/deps/     the node's dependencies + requirements-node.txt (rarely changes)
#   wheelhouse/project/  the sinkron wheel (changes with the source; installed last,
#                        so a source change rebuilds only the last, small layer)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Tools the nemesis uses inside the container (already present in sinkron-base; on
# python:3.11-slim they come from Debian's mirror).
RUN if ! command -v iptables >/dev/null || ! command -v ip >/dev/null || ! command -v pkill >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends iproute2 iptables procps \
      && rm -rf /var/lib/apt/lists/*; \
    fi

COPY wheelhouse/deps/ /tmp/deps/
RUN python3 -m venv /opt/sinkron \
    && /opt/sinkron/bin/pip install --no-cache-dir --no-index --find-links /tmp/deps \
        -r /tmp/deps/requirements-node.txt \
    && rm -rf /tmp/deps

COPY wheelhouse/project/ /tmp/project/
RUN /opt/sinkron/bin/pip install --no-cache-dir --no-index --no-deps /tmp/project/sinkron-*.whl \
    && rm -rf /tmp/project

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
  CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7000/health', timeout=1)" || exit 1
STOPSIGNAL SIGTERM
# Lets `harness image build` prune its own untagged leftovers and nothing else.
LABEL org.sinkron.image=node
CMD ["python3", "-m", "impl.runtime"]
