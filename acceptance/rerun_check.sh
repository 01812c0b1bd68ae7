#!/usr/bin/env bash
# Acceptance checks of billrun's RERUN and RECONCILE behaviour against DESIGN.md §8 (runs: close
# idempotency and crash safety, rerun decisions, reconcile, locks), §10 (exit codes) and §11
# ("Documents": numbers, due dates, amount_paid, kinds, rerun decisions; "Reconcile and export").
# Every expected document and amount is worked out by hand in acceptance/rerun_check.py.
# Needs go and python3 (standard library only). Prints PASS/FAIL per check; exits 1 on any failure.
#
#   bash acceptance/rerun_check.sh          (scratch directory: $ACC_WORK, default /tmp/accx/run)
#   ACC_CRASH=0 bash acceptance/rerun_check.sh   skips the kill -9 crash scenario
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
W=${ACC_WORK:-/tmp/accx/run}
rm -rf "$W"; mkdir -p "$W"
(cd "$REPO" && go build -o "$W/billrun" ./cmd/billrun && go build -o "$W/gen" ./fixtures/gen) || { echo "build failed"; exit 1; }
GEN=$W/gen
[ "${ACC_CRASH:-1}" = 0 ] && GEN=
python3 "$HERE/rerun_check.py" "$W/billrun" "$REPO/fixtures/prices.yaml" "$W" $GEN 2>&1 | tee "$W/checks.log"
exit "${PIPESTATUS[0]}"
