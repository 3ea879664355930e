#!/usr/bin/env bash
# make-data.sh: write the agencies' bets files that compose mounts,
# DIR/agency-1.csv .. DIR/agency-N.csv, with lottery-gen-bets from the
# lottery image (one throwaway container for all of them).
#
# Usage: docker/make-data.sh [OPTION...] N
#   N               number of agencies, 1 to 1000
#   --rows R        bets per agency (default 1000)
#   --winners K     exactly K winning bets in each file; a comma-separated
#                   list K1,K2,... gives agency i the i-th value (the last
#                   value goes on for the agencies past the list's end).
#                   Default: agency i has i - 1 winners (at most R), as
#                   with the bets-data service of the compose files.
#   --seed S        base seed; agency i's file uses seed S + i (default 0),
#                   so the same options always give the same files
#   --dir DIR       where to write (default $LOTTERY_BETS_DIR, else ./.data)
#   --force         rewrite files that already exist (default: keep them)
#
# With the defaults the files are the ones the compose files' bets-data
# service writes. Existing non-empty files are kept; a folder where a file
# should be (the engine makes one when a missing file is mounted) is an
# error. Each file is written to a temporary name and renamed.
#
# Environment: LOTTERY_IMAGE (default lottery:latest) is the image to run;
# LOTTERY_GEN_BETS, if set, is a lottery-gen-bets binary to run on the
# host instead (no engine needed).
set -euo pipefail

readonly MAX_AGENCIES=1000
readonly IMAGE="${LOTTERY_IMAGE:-lottery:latest}"

usage() {
  echo "usage: $0 [--rows R] [--winners K|K1,K2,...] [--seed S] [--dir DIR] [--force] N"
}

die() {
  echo "make-data: $*" >&2
  exit 2
}

rows=1000
winners=""
seed=0
dir="${LOTTERY_BETS_DIR:-./.data}"
force=false
count=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) [[ $# -ge 2 ]] || die "--rows needs a value"; rows="$2"; shift 2 ;;
    --winners) [[ $# -ge 2 ]] || die "--winners needs a value"; winners="$2"; shift 2 ;;
    --seed) [[ $# -ge 2 ]] || die "--seed needs a value"; seed="$2"; shift 2 ;;
    --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; dir="$2"; shift 2 ;;
    --force) force=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *)
      [[ -z "$count" ]] || { usage >&2; die "unexpected argument '$1'"; }
      count="$1"
      shift
      ;;
  esac
done

[[ -n "$count" ]] || { usage >&2; die "N (the number of agencies) is required"; }
if ! [[ "$count" =~ ^[1-9][0-9]{0,3}$ ]] || (( count > MAX_AGENCIES )); then
  die "N must be a whole number from 1 to $MAX_AGENCIES, got '$count'"
fi
[[ "$rows" =~ ^[0-9]{1,9}$ ]] || die "--rows must be a whole number, got '$rows'"
[[ "$seed" =~ ^[0-9]{1,15}$ ]] || die "--seed must be a whole number, got '$seed'"
[[ -z "$winners" || "$winners" =~ ^[0-9]{1,9}(,[0-9]{1,9})*$ ]] ||
  die "--winners must be K or K1,K2,..., got '$winners'"

IFS=, read -r -a winner_list <<<"$winners"

# The command lines, one per missing file, for a shell in the container
# (or on the host). Paths are relative to the output folder.
script=""
made=0
written=()
folders=()
for (( i = 1; i <= count; i++ )); do
  file="agency-$i.csv"
  # The engine makes a folder where a missing file is mounted.
  if [[ -d "$dir/$file" ]]; then
    folders+=("$file")
    continue
  fi
  if ! $force && [[ -f "$dir/$file" && -s "$dir/$file" ]]; then
    continue
  fi
  args="--rows $rows --seed $(( seed + i ))"
  if (( ${#winner_list[@]} > 0 )); then
    k=$(( 10#${winner_list[$(( i <= ${#winner_list[@]} ? i - 1 : ${#winner_list[@]} - 1 ))]} ))
    (( k <= rows )) || die "agency $i: --winners $k is more than --rows $rows"
  else
    k=$(( i - 1 < rows ? i - 1 : rows ))
  fi
  args+=" --winners $k"
  script+="\"\$GEN\" $args --output $file.tmp && mv -f -- $file.tmp $file ||"
  script+=" { rm -f -- $file.tmp; exit 1; }"$'\n'
  written+=("$file")
  made=$(( made + 1 ))
done

if (( ${#folders[@]} > 0 )); then
  die "$dir holds folders where bets files should be (the engine makes them" \
      "when a missing file is mounted): ${folders[*]}; remove them" \
      "(they may belong to root) and run this again"
fi
if (( made == 0 )); then
  echo "make-data: all $count bets files already in $dir (use --force to rewrite)"
  exit 0
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [[ -n "${LOTTERY_GEN_BETS:-}" ]]; then
  [[ -x "$LOTTERY_GEN_BETS" ]] || die "LOTTERY_GEN_BETS='$LOTTERY_GEN_BETS' is not an executable"
  (cd "$dir" && GEN="$LOTTERY_GEN_BETS" sh -c "$script") ||
    die "cannot write the bets files in $dir"
else
  command -v docker >/dev/null || die "docker is not installed (or set LOTTERY_GEN_BETS)"
  docker image inspect "$IMAGE" >/dev/null 2>&1 ||
    die "image $IMAGE not found: build it first (docker compose build)"
  # Run as the calling user so the files belong to them, in the output
  # folder mounted at /out.
  docker run --rm --network none \
    --user "$(id -u):$(id -g)" \
    --volume "$dir:/out" --workdir /out \
    --env GEN=lottery-gen-bets \
    --entrypoint sh "$IMAGE" -c "$script" ||
    die "cannot write the bets files in $dir"
fi

# The agencies run as an unprivileged user: the files written must be
# readable by all (files that were already there are left alone).
(cd "$dir" && chmod a+r -- "${written[@]}")
files="files"
(( made != 1 )) || files="file"
echo "make-data: wrote $made bets $files of $rows rows in $dir"
