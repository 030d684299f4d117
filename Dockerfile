# lippejob: signalling server with an in-process SFU (or, with --no-media and Redis, without).
# Records go to SQLite in /var/lib/lippejob by default, or to --database / LIPPEJOB_DATABASE_URL.
# Build stage: the wheel, with the SFU's per-packet edge compiled (mediaserver/rtp/_wire.c).
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY core ./core
COPY lippejob ./lippejob
COPY signalling ./signalling
COPY mediaserver ./mediaserver
COPY web ./web
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends libopus0 libvpx7 libsrtp2-1 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --create-home --home-dir /var/lib/lippejob lippejob
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

USER lippejob
WORKDIR /var/lib/lippejob
ENV LIPPEJOB_DATA_DIR=/var/lib/lippejob \
    LIPPEJOB_KEYS_DIR=/var/lib/lippejob/keys \
    LIPPEJOB_CERTS_DIR=/var/lib/lippejob/certs
EXPOSE 8443
# Behind a TLS proxy: add --http and --public-url https://your.host
CMD ["lippejob", "serve", "--host", "0.0.0.0", "--port", "8443"]
