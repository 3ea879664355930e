#!/usr/bin/env bash
# make-base-image.sh: provide the debian:bookworm-slim base image locally.
#
# The Dockerfile builds FROM debian:bookworm-slim. Where an image registry
# is reachable, `docker pull debian:bookworm-slim` is all it takes; where
# none is, this script makes an equivalent minimal Debian 12 root file
# system with debootstrap (needs root) and imports it into the engine.
#
# The root file system is kept as a tarball in a cache folder, so only the
# first run pays for debootstrap (about a minute); later runs
# only import it (a few seconds), and runs that find the image do nothing.
#
# Usage: docker/make-base-image.sh [--force]
#   --force  rebuild the tarball and re-import it even if they exist
#
# Environment:
#   LOTTERY_BASE_IMAGE   image tag to provide (default debian:bookworm-slim)
#   LOTTERY_CACHE_DIR    where the tarball is kept (default /var/cache/lottery)
#   DEBIAN_MIRROR        Debian mirror for debootstrap (default: the first
#                        Debian mirror in /etc/apt/sources.list*, else
#                        http://deb.debian.org/debian)
set -euo pipefail

readonly IMAGE="${LOTTERY_BASE_IMAGE:-debian:bookworm-slim}"
readonly CACHE_DIR="${LOTTERY_CACHE_DIR:-/var/cache/lottery}"
readonly TARBALL="$CACHE_DIR/debian-bookworm-minbase.tar"
readonly SUITE=bookworm

die() {
  echo "make-base-image: $*" >&2
  exit 1
}

force=false
case "${1:-}" in
  "") ;;
  --force) force=true ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  *) die "unknown argument '$1' (usage: $0 [--force])" ;;
esac

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine is not running (docker info failed)"

if ! $force && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "make-base-image: $IMAGE already present"
  exit 0
fi

# The Debian mirror the host itself uses, so that a machine behind a local
# mirror keeps using it.
find_mirror() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
          /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -oE 'https?://[^ ]+/debian/?' | grep -v -- '-security' | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

if $force || [[ ! -s "$TARBALL" ]]; then
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root; run as root or provide $TARBALL"
  command -v debootstrap >/dev/null ||
    die "debootstrap is not installed (apt-get install debootstrap)"

  mirror="${DEBIAN_MIRROR:-$(find_mirror)}"
  mirror="${mirror%/}"
  mkdir -p "$CACHE_DIR"
  rootfs=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  # Leave no half-made root file system or tarball behind on failure.
  trap 'rm -rf "$rootfs" "$TARBALL.partial"' EXIT

  echo "make-base-image: debootstrap $SUITE from $mirror (takes a minute or two)"
  if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" \
         >"$CACHE_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE_DIR/debootstrap.log" >&2
    die "debootstrap failed; full log in $CACHE_DIR/debootstrap.log"
  fi

  # Same sources as the official image: the release, its updates and the
  # security archive.
  security="${mirror%/debian}/debian-security"
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
  # Like the official slim image: no package lists or downloaded packages
  # in the image, and apt cleans up after itself in derived images.
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log

  tar --numeric-owner -C "$rootfs" -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
  rm -rf "$rootfs"
  trap - EXIT
  echo "make-base-image: cached $TARBALL"
fi

docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$TARBALL" "$IMAGE" >/dev/null
echo "make-base-image: imported $IMAGE from $TARBALL"
