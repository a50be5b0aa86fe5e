#!/bin/bash
# The v2 backtests of docs/backtesting.md (issue 75): builds each plan's world (its header's command) under
# saves/backtests/ (the v1 worlds, the same commands), checks every plan (check.py: no fit, no score), then runs
# each plan, its --json output in OUT/NAME.json (default saves/backtests/v2). PLAN_DIR (default docs/backtests/v2)
# and PLANS (the names) run another folder of plans the same way (docs/backtests/v3/run.sh).
set -e
cd "$(dirname "$0")/../../.."
A=${AGORA:-.venv/bin/agora}
W=saves/backtests
D=${PLAN_DIR:-docs/backtests/v2}
OUT=${1:-$W/$(basename "$D")}
mkdir -p "$W" "$OUT"
for spec in flu1918:20000 flu2009:1000 measles1861:500 mers2014:5000 nyc2009:3000 sars2003:10000 smallpox1972:2000; do
  n=${spec%%:*}
  [ -f "$W/bt-$n.db" ] || $A new "$W/bt-$n.db" --agents "${spec##*:}" --graph community --avg-degree 10 --seed 61 >/dev/null
done
[ -f "$W/village.db" ] || $A new "$W/village.db" --people ../shared/data/hagelloch.csv --id PN --group HN:household \
  --group CL:class --skip preschool --near x.loc,y.loc:50:neighbours >/dev/null
.venv/bin/python docs/backtests/v2/check.py "$D"
for n in ${PLANS:-flu1918 sars2003 measles1861 smallpox1972 flu2009 nyc2009 mers2014 hagelloch flu1918-weekly sars2003-weekly mers2014-weekly}; do
  w="$W/bt-${n%%-*}.db"
  [ "$n" = hagelloch ] && w="$W/village.db"
  s=$(date +%s)
  $A backtest "$w" --plan "$D/$n.toml" --json > "$OUT/$n.json"
  echo "$n: $(( $(date +%s) - s )) s, load $(cut -d' ' -f1 /proc/loadavg)" >&2
done
