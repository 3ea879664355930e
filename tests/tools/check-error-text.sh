#!/usr/bin/env bash
# Log values are never translated, so errors carry their message twice
# (src/common/lottery-error.c). This fails when code under src/ breaks
# that: an error constructor given a _() format instead of the N_()
# msgid, or a translated message (->message, g_strerror ()) as an
# argument instead of lottery_fail_wrap ()/lottery_fail_errno (),
# g_prefix_error ()/g_propagate_prefixed_error (), or a log line that
# shows ->message instead of lottery_log_error_value (). TAP output.
#   check-error-text.sh [SOURCE_ROOT]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=${1:-$here/../..}
cd "$top"
echo "1..1"
mapfile -t files < <(find src -name '*.c' | sort)
if out=$(python3 "$here/error-calls.py" check "${files[@]}"); then
  echo "ok 1 error texts keep their C text (${#files[@]} files)"
else
  echo "not ok 1 error texts keep their C text"
  sed 's/^/# /' <<<"$out"
  exit 1
fi
