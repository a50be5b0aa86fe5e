#!/bin/bash
# The v3 backtests of docs/backtesting.md (issue 75): v2's runner (worlds, check, runs) on the plans of this folder,
# their --json outputs in OUT/NAME.json (default saves/backtests/v3).
cd "$(dirname "$0")/../../.."
PLAN_DIR=docs/backtests/v3 PLANS="${PLANS:-flu1918 sars2003 measles1861 smallpox1972 flu2009 nyc2009 hagelloch flu1918-weekly sars2003-weekly mers2014}" \
  exec docs/backtests/v2/run.sh "$@"
