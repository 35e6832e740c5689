#!/bin/bash
# Installs the Debian 12 packages needed to build and test (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends \
  build-essential cmake pkg-config git ca-certificates \
  capnproto libcapnp-dev libssl-dev \
  libseccomp-dev libcap-dev \
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev \
  libsqlite3-dev libarchive-dev zlib1g-dev libzstd-dev libisal-dev python3 \
  libcurlpp-dev libcurl4-openssl-dev docker-registry curl openssl \
  busybox-static attr libcap2-bin gzip \
  libgtest-dev libre2-dev clang clang-format libclang-rt-14-dev systemd strace \
  runc crun uidmap skopeo oci-image-tool umoci
