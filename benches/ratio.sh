#!/usr/bin/env bash
# Pipeline / bare-loop ratios (issue 20) from criterion's estimates of the
# last run of `cargo bench -p vswitch-benches --bench pipeline` (run both
# in one invocation, so they share the machine's state):
#   benches/ratio.sh [criterion dir]     (default: target/criterion)
# Prints ns per packet (median of criterion's estimate, batch of 64) of
# each unicast case, its bare loop, and the ratio.
set -euo pipefail
dir=${1:-$(dirname "$0")/../target/criterion}
python3 - "$dir" <<'PY'
import json, os, sys
d = os.path.join(sys.argv[1], "unicast")
def ns(name):
    p = os.path.join(d, name, "new", "estimates.json")
    if not os.path.exists(p):
        return None
    return json.load(open(p))["median"]["point_estimate"] / 64
print(f"{'case':<10} {'pipeline':>9} {'bare':>7} {'ratio':>6}   (ns/packet)")
for case in ["1k", "64k", "1M", "hot4k_1M"]:
    a, b = ns(case), ns("bare_" + case)
    if a is None or b is None:
        continue
    print(f"{case:<10} {a:9.1f} {b:7.1f} {a / b:6.2f}")
PY
