#!/usr/bin/env bash
# test-completion.sh COMPLETION_DIR SERVER CLIENT: the bash completion
# offers every long option that --help lists, and values where it can.
set -u

dir=$1 server=$2 client=$3
failures=0

fail () {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# complete FUNCTION WORD...: runs FUNCTION as bash would for the command
# line WORD... (the cursor on the last word); prints the candidates.
complete_words () {
  local func=$1
  shift
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  "$func"
  printf '%s\n' "${COMPREPLY[@]}"
}

expect () {
  local want=$1
  shift
  if ! complete_words "$@" | grep -qx -- "$want"; then
    fail "completing “${*:2}” does not offer $want"
  fi
}

for program in lottery-server lottery-client; do
  # shellcheck source=/dev/null
  source "$dir/$program" || fail "$program: the completion does not load"
  func=_${program//-/_}
  if [ "$(complete -p "$program" 2>/dev/null)" != "complete -o filenames -F $func $program" ]; then
    fail "$program: no completion registered"
    continue
  fi
  binary=$server
  [ "$program" = lottery-client ] && binary=$client
  options=$(LC_ALL=C.UTF-8 LANGUAGE= "$binary" --help |
            sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p')
  [ -n "$options" ] || fail "$program: no options in --help"
  for option in $options; do
    expect "$option" "$func" "$program" "--"
    expect "$option" "$func" "$program" "${option:0:4}"
  done
  expect DEBUG "$func" "$program" --log-level ""
  expect WARNING "$func" "$program" --log-level "W"
  expect ERROR "$func" "$program" --log-level "=" ""
  expect INFO "$func" "$program" --log-level "=" "I"
done

expect --status _lottery_client lottery-client --sta
expect --json _lottery_client lottery-client --status --js

if [ "$failures" -gt 0 ]; then
  exit 1
fi
echo "ok: both programs' options complete"
