#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine needs to build and run Tessera:
# Mesa's CPU Vulkan driver (lavapipe) and the Vulkan loader (real GPUs bring their own
# driver), and the PostgreSQL server the orchestrator's tests start a throwaway cluster of.
set -euo pipefail
need=()
dpkg -s libvulkan1 >/dev/null 2>&1 || need+=(libvulkan1)
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
# The orchestrator's S3 backend is tested against moto's S3 server (PyPI: a maintained,
# in-memory implementation of the S3 protocol, multipart uploads included; it starts in
# ~3 s and needs no disk or credentials).
if ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install --quiet 'moto[server]>=5,<6'
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi
