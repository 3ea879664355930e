#!/usr/bin/env bash
# Every user-facing string in the sources has a Spanish translation that
# is neither missing nor fuzzy: extracts the strings afresh (as the
# glib preset of i18n.gettext does) and compares po/es.po with them.
set -euo pipefail

top=${1:?usage: test-po.sh SOURCE_ROOT}
work=$(mktemp -d "${TMPDIR:-/tmp}/lottery-po.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "1..3"
cd "$top"
xgettext --from-code=UTF-8 --language=C --keyword=_ --keyword=N_ \
  --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dngettext:2,3 \
  --files-from=po/POTFILES --output="$work/lottery.pot" 2>"$work/xgettext.log"

if msgfmt -c -o /dev/null po/es.po 2>"$work/msgfmt.log"; then
  echo "ok 1 po/es.po is well formed"
else
  echo "not ok 1 po/es.po is well formed"; sed 's/^/# /' "$work/msgfmt.log"
  exit 1
fi

# Untranslated and fuzzy entries count as missing here.
if msgcmp po/es.po "$work/lottery.pot" 2>"$work/msgcmp.log"; then
  echo "ok 2 po/es.po translates every string"
else
  echo "not ok 2 po/es.po translates every string"
  sed 's/^/# /' "$work/msgcmp.log"
  exit 1
fi

stats=$(LC_ALL=C msgfmt --statistics -o /dev/null po/es.po 2>&1)
if grep -q -e fuzzy -e untranslated <<<"$stats"; then
  echo "not ok 3 no fuzzy or untranslated entries"; echo "# $stats"
  exit 1
fi
echo "ok 3 no fuzzy or untranslated entries ($stats)"
