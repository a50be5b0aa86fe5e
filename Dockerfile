# Agora's management API in a container: `agora serve` on a world kept in the /worlds volume.
#
#   docker build -t agora-sim .
#   docker run --rm -v "$PWD/worlds:/worlds" --entrypoint agora agora-sim new /worlds/world.db --agents 100000
#   docker run --rm -p 127.0.0.1:8765:8765 -v "$PWD/worlds:/worlds" -e AGORA_API_TOKEN="$(cat token)" agora-sim
#
# The token comes from the environment (AGORA_API_TOKEN) and is never written anywhere; without one the
# server refuses to start (it listens on every interface of the container). See docs/api.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/agora
COPY pyproject.toml README.md ./
COPY sim ./sim
COPY tui ./tui
COPY plugins ./plugins
COPY agora_testing ./agora_testing
RUN pip install . \
    && useradd --create-home --uid 10001 agora \
    && mkdir -p /worlds \
    && chown agora:agora /worlds

USER agora
WORKDIR /worlds
ENV AGORA_SAVES=/worlds
VOLUME ["/worlds"]
EXPOSE 8765

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"

ENTRYPOINT ["agora", "serve"]
CMD ["/worlds/world.db", "--host", "0.0.0.0", "--port", "8765", "--metrics"]
