#!/usr/bin/env bash
# .ci/install-deps: the demo asks only for what building needs, so a user
# (root or not) who has the build packages is not stopped for test tools;
# CI's list has everything .ci/run and the benchmarks use.
#   test-install-deps.sh SOURCE_ROOT
set -euo pipefail

top=${1:?usage: test-install-deps.sh SOURCE_ROOT}
work=$(mktemp -d "${TMPDIR:-/tmp}/lottery-deps.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "1..4"

# A machine with exactly the build packages, and a user who is not root:
# dpkg-query and id are stand-ins on PATH.
mkdir "$work/bin"
cat >"$work/bin/dpkg-query" <<'EOF'
#!/bin/sh
for p in meson ninja-build pkg-config gcc libc6-dev libglib2.0-dev \
         libjson-glib-dev gettext; do
  [ "$p" = "$3" ] && { echo "install ok installed"; exit 0; }
done
exit 1
EOF
printf '#!/bin/sh\necho 1000\n' >"$work/bin/id"
chmod +x "$work/bin/dpkg-query" "$work/bin/id"

mode=$(sed -n 's|^bash "$top/.ci/install-deps"\(.*\)$|\1|p' "$top/tests/demo.sh" | tr -d ' ')
if out=$(PATH="$work/bin:$PATH" bash "$top/.ci/install-deps" $mode 2>&1); then
  echo "ok 1 tests/demo.sh's install-deps ($mode) passes for a non-root user with the build packages"
else
  echo "not ok 1 tests/demo.sh's install-deps (${mode:-no mode}) stops a non-root user with the build packages"
  echo "# $out"
fi

demo=$(bash "$top/.ci/install-deps" --list demo 2>/dev/null || true)
extra=$(grep -xE 'clang|valgrind|gnutls-bin|libclang-rt-.*|socat|scdoc|time' <<<"$demo" || true)
if [ -n "$demo" ] && [ -z "$extra" ]; then
  echo "ok 2 the demo list holds no test tool"
else
  echo "not ok 2 the demo list holds test tools: ${extra:-(no list)}" | tr '\n' ' '; echo
fi

ci=$(bash "$top/.ci/install-deps" --list ci 2>/dev/null || true)
if grep -qx time <<<"$ci" && grep -qx valgrind <<<"$ci"; then
  echo "ok 3 the CI list has GNU time (benchmarks) and valgrind"
else
  echo "not ok 3 the CI list lacks GNU time or valgrind"
fi

missing=$(comm -23 <(sort <<<"$demo") <(sort <<<"$ci"))
if [ -n "$ci" ] && [ -z "$missing" ]; then
  echo "ok 4 the CI list includes the demo's"
else
  echo "not ok 4 the CI list lacks: $missing" | tr '\n' ' '; echo
fi
