#!/bin/sh
# The repository tracks sources only: no run-time leftovers (pid files,
# bets.csv, journals) that a run of the programs or the tests leaves.
set -eu
cd "$1"
if ! command -v git >/dev/null 2>&1 || ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "not a git checkout; nothing to check"
  exit 77
fi
stray=$(git ls-files | grep -E '(^|/)([^/]*\.pid|bets\.csv|bets\.csv\.journal)$' || true)
if [ -n "$stray" ]; then
  echo "tracked run-time files:" >&2
  echo "$stray" >&2
  exit 1
fi
