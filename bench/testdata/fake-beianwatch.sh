#!/bin/sh
# Stands in for `beianwatch audit` in the harness's tests: copies the
# report fixture named by FAKE_REPORT to the --report path and exits with
# FAKE_EXIT (1: violations found, as the real audit does).
report=""
while [ $# -gt 0 ]; do
  case "$1" in
    --report) report="$2"; shift 2 ;;
    *) shift ;;
  esac
done
[ -n "$report" ] || { echo "no --report" >&2; exit 2; }
cp "$FAKE_REPORT" "$report"
exit "${FAKE_EXIT:-0}"
