#!/usr/bin/env bash
# Fetches lavapipe (Mesa's CPU Vulkan driver) of Mesa 25 from Debian bookworm-backports into a
# folder of its own, leaving the system's Mesa alone, and prints the ICD file that selects it:
#
#     export VK_DRIVER_FILES=$(scripts/lavapipe.sh)      # then node-agent, benches, tests
#
# Why: on the renderer's real-sized scenes it renders 1.2-1.8x faster than Debian 12's Mesa 22.3
# (its storage-buffer loads are vector gathers, not a loop over the lanes; renderer README,
# "Round 8"), and it has no 65 535-iteration loop limit. The package is fetched and checked by
# apt itself (the archive's signed index), into a temporary apt state, not the system's.
# Usage: scripts/lavapipe.sh [DIR]   (default ${XDG_CACHE_HOME:-~/.cache}/tessera/lavapipe-25)
set -euo pipefail
version="25.0.7-2~bpo12+1"
dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/lavapipe-25}
lib="$dest/libvulkan_lvp.so"
icd="$dest/lvp_icd.json"
if [ -f "$icd" ] && [ -f "$lib" ] && grep -qF "$version" "$dest/VERSION" 2>/dev/null; then
  echo "$icd"
  exit 0
fi
if [ "$(dpkg --print-architecture 2>/dev/null)" != amd64 ]; then
  echo "lavapipe.sh: only for Debian 12 (bookworm) on amd64; install Mesa >= 25 from your distribution instead" >&2
  exit 1
fi
if ! mkdir -p "$dest" 2>/dev/null || [ ! -w "$dest" ]; then
  echo "lavapipe.sh: cannot write to $dest" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/pkg"
echo "deb http://deb.debian.org/debian bookworm-backports main" >"$tmp/sources.list"
apt=(apt-get -qq -o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o APT::Sandbox::User="$(id -un)")
"${apt[@]}" update
# The version measured in the renderer README; backports replaces old builds, so fall back to its
# current one (and say so) rather than fail.
if ! (cd "$tmp/pkg" && "${apt[@]}" download "mesa-vulkan-drivers=$version" 2>/dev/null); then
  (cd "$tmp/pkg" && "${apt[@]}" download mesa-vulkan-drivers/bookworm-backports)
  echo "lavapipe.sh: $version is gone from bookworm-backports; took $(ls "$tmp/pkg")" >&2
fi
dpkg-deb -x "$tmp"/pkg/mesa-vulkan-drivers_*.deb "$tmp/root"
# It links the system's LLVM 15 (as Debian 12's own lavapipe does); libdrm is bound lazily and
# unused by a CPU driver's compute work. Refuse clearly where a library is missing.
missing=$(ldd "$tmp/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" | grep 'not found' || true)
if [ -n "$missing" ]; then
  echo "lavapipe.sh: libraries missing for Mesa $version: $missing" >&2
  exit 1
fi
cp "$tmp/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" "$lib"
api=$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$tmp"/root/usr/share/vulkan/icd.d/lvp_icd*.json)
cat >"$icd" <<EOF
{
    "file_format_version": "1.0.0",
    "ICD": { "library_path": "$lib", "api_version": "$api" }
}
EOF
echo "$version $(ls "$tmp/pkg")" >"$dest/VERSION"
echo "$icd"
