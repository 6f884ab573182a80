#!/usr/bin/env bash
# Every bad command line in bad_input.tsv exits with its status and prints one
# line naming the problem; none of them creates a results directory.
set -u
conlab=$1
table=$(dirname "$0")/bad_input.tsv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
pass=0
fail=0
while IFS=$'\t' read -r want needle args; do
  case "$want" in '#'* | '') continue ;; esac
  # shellcheck disable=SC2086
  out=$("$conlab" $args 2>&1 >/dev/null)
  got=$?
  lines=$(printf '%s\n' "$out" | grep -c .)
  if [ "$got" != "$want" ]; then
    echo "FAIL: conlab $args: exit $got, expected $want ($out)"
    fail=$((fail + 1))
  elif [[ "$out" != *"$needle"* ]]; then
    echo "FAIL: conlab $args: message '$out' lacks '$needle'"
    fail=$((fail + 1))
  elif [ "$needle" != usage ] && [ "$lines" != 1 ]; then
    echo "FAIL: conlab $args: $lines lines on stderr, expected 1: $out"
    fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
done <"$table"
if [ -e results ]; then
  echo "FAIL: a bad command line created results/"
  fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -ge 15 ]
