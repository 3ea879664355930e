#!/bin/sh
# test-install.sh: `meson install` into a temporary DESTDIR, then
#   files BUILD BINDIR MANDIR UNIT EXPECTED...
#       checks that exactly the EXPECTED files (absolute paths) are
#       installed, and that the programs are executable;
#   unit BUILD BINDIR MANDIR UNIT
#       checks the installed systemd unit with `systemd-analyze verify`
#       (exit 77, skipped, where that tool is missing).
set -eu

mode=$1 build=$2 bindir=$3 mandir=$4 unit=$5
shift 5

if [ "$mode" = unit ] && ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze is not installed"
  exit 77
fi

destdir=$(mktemp -d "${TMPDIR:-/tmp}/lottery-install-XXXXXX")
trap 'rm -rf "$destdir"' EXIT

meson install -C "$build" --destdir "$destdir" --no-rebuild --quiet >/dev/null

case $mode in
files)
  for f in "$@"; do
    printf '%s\n' "$f"
  done | sort >"$destdir.expected"
  (cd "$destdir" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) \
    >"$destdir.actual"
  trap 'rm -rf "$destdir" "$destdir.expected" "$destdir.actual"' EXIT
  if ! cmp -s "$destdir.expected" "$destdir.actual"; then
    echo "installed files differ from the expected ones (- expected, + installed):"
    diff -u "$destdir.expected" "$destdir.actual" | sed -n '3,$p'
    exit 1
  fi
  for program in lottery-server lottery-client; do
    if [ ! -x "$destdir$bindir/$program" ]; then
      echo "$bindir/$program is not executable"
      exit 1
    fi
  done
  echo "ok: $# files installed where expected"
  ;;
unit)
  # The unit as installed, except that ExecStart points into DESTDIR:
  # systemd-analyze checks that the program exists. The man page named
  # in Documentation= is looked up in DESTDIR too.
  check=$(mktemp -d "${TMPDIR:-/tmp}/lottery-unit-XXXXXX")
  trap 'rm -rf "$destdir" "$check"' EXIT
  installed="$destdir$unit"
  if [ ! -f "$installed" ]; then
    echo "no unit at $unit"
    exit 1
  fi
  for key in DynamicUser=yes StateDirectory=lottery ProtectSystem=strict \
             NoNewPrivileges=yes; do
    if ! grep -qx "$key" "$installed"; then
      echo "the unit lacks $key"
      exit 1
    fi
  done
  # Only --config: a setting passed as a flag would beat the
  # Environment= overrides README shows (and server.json).
  if ! grep -q "^ExecStart=$bindir/lottery-server --config [^ ]*/lottery/server.json\$" "$installed"; then
    echo "the unit's ExecStart is not as expected (only --config):"
    grep '^ExecStart=' "$installed" || true
    exit 1
  fi
  sed "s|^ExecStart=$bindir/|ExecStart=$destdir$bindir/|" "$installed" \
    >"$check/lottery-server.service"
  man_check=--man=yes
  if ! command -v man >/dev/null 2>&1 || [ ! -d "$destdir$mandir" ]; then
    man_check=--man=no
  fi
  if ! out=$(MANPATH="$destdir$mandir" SYSTEMD_LOG_LEVEL=notice \
             systemd-analyze verify "$man_check" "$check/lottery-server.service" 2>&1) ||
     [ -n "$out" ]; then
    echo "systemd-analyze verify $man_check:"
    printf '%s\n' "$out"
    exit 1
  fi
  echo "ok: systemd-analyze verify $man_check passes"
  ;;
*)
  echo "usage: $0 files|unit BUILD BINDIR MANDIR UNIT [EXPECTED...]"
  exit 2
  ;;
esac
