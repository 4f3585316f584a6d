#!/usr/bin/env bash
# Prints the path of a working CPython interpreter, or nothing (exit 1) when there is none.
#   scripts/find-python.sh            the newest of 3.13, 3.12, 3.11, 3.10 found
#   scripts/find-python.sh 3.12       exactly that minor version
# It looks on PATH (skipping pyenv shims that only say "command not found"), then in pyenv's and uv's install
# folders and the usual prefixes, and runs each candidate once: a name that exists but does not start is skipped.
set -u
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.13 3.12 3.11 3.10)

works() { "$1" -c 'import sys, venv; sys.exit(0)' >/dev/null 2>&1; }

for v in "${versions[@]}"; do
  candidates=()
  found=$(command -v "python$v" 2>/dev/null) && candidates+=("$found")
  for dir in "${PYENV_ROOT:-$HOME/.pyenv}/versions/$v".* "$HOME/.local/share/uv/python/cpython-$v".*; do
    candidates+=("$dir/bin/python$v")
  done
  candidates+=("/usr/local/bin/python$v" "/usr/bin/python$v" "/opt/python/$v/bin/python$v")
  for python in "${candidates[@]}"; do
    if [ -x "$python" ] && works "$python"; then
      echo "$python"
      exit 0
    fi
  done
done
exit 1
