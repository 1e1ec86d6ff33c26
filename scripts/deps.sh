#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine needs to build and run Tessera:
# Mesa's CPU Vulkan driver (lavapipe) and the Vulkan loader. Real GPUs bring their own driver.
set -euo pipefail
need=()
dpkg -s libvulkan1 >/dev/null 2>&1 || need+=(libvulkan1)
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
