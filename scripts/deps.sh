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
