#!/usr/bin/env bash
# Puts gloo's C++ headers in .deps/gloo (git-ignored) for crates/ner-dist: libtorch's ProcessGroupGloo.hpp
# includes them and the torch wheel does not ship them. They come from Debian's libgloo-dev package,
# unpacked here rather than installed (no root needed); only the headers are used, never Debian's libgloo
# (libtorch_cpu.so carries the gloo code it was built with). Idempotent. Where /usr/include/gloo exists
# already (the image's builder stage installs libgloo-dev) nothing is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.deps/gloo
[ -f "$dest/usr/include/gloo/config.h" ] && exit 0
[ -f /usr/include/gloo/config.h ] && exit 0
command -v apt-get >/dev/null || {
  echo "setup-gloo-headers: no apt-get; install gloo's headers (Debian/Ubuntu: libgloo-dev) and set GLOO_INCLUDE_DIR" >&2
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && apt-get download libgloo-dev >/dev/null 2>&1); then
  apt-get update -qq >/dev/null 2>&1 || true
  (cd "$tmp" && apt-get download libgloo-dev >/dev/null) || {
    echo "setup-gloo-headers: 'apt-get download libgloo-dev' failed" >&2
    exit 1
  }
fi
mkdir -p "$dest.tmp"
dpkg-deb -x "$tmp"/libgloo-dev_*.deb "$dest.tmp"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "setup-gloo-headers: gloo headers in $dest/usr/include"
