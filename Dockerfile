# One image for every worker binary and the starter. Build once:
#   docker compose build
# Stage 1 compiles against Debian's FFmpeg and GDAL libraries; stage 2 carries only their runtime
# parts (GDAL with PROJ's data: the geolocalization worker's datum transformations).
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config clang libclang-dev protobuf-compiler \
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev \
      libgdal-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
 && mkdir -p /out \
 && cp target/release/*-worker target/release/starter /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
      libavcodec59 libavformat59 libavutil57 libswscale6 libavfilter8 libavdevice59 \
      libgdal32 proj-data \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 fleet
COPY --from=build /out/ /usr/local/bin/
USER fleet
WORKDIR /home/fleet
# Every worker serves the SDK's Prometheus metrics here (see METRICS_PORT).
ENV METRICS_PORT=9464
EXPOSE 9464
CMD ["starter", "--help"]
