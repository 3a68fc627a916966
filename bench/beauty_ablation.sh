#!/usr/bin/env bash
# The Amazon-Beauty ablation of issue #5 on a stated subset: the 15-core of Amazon-Beauty
# (users and items with >= 15 interactions: 671 users, 498 items, 18,171 interactions),
# leave-one-out split by time. On 2 CPU cores with SmolLM2-135M the LLM steps take about an
# hour: item attributes and profiles for every item, edges for every user, profiles for the
# first USERS users (the alignment losses skip users without a profile).
#
#   WORKBENCH_HOME=/tmp/beauty bash bench/beauty_ablation.sh [path/to/amazon-beauty]
# SKIP_ENRICH=1 reruns only the ablation; SKIP_ABLATION=1 only the enrichment.
set -euo pipefail
SRC=${1:-../shared/data/amazon-beauty}
USERS=${USERS:-300}
SEEDS=${SEEDS:-3}
EPOCHS=${EPOCHS:-300}
WB=${WB:-.venv/bin/workbench}
step() { echo "== $(date +%T) $*"; "$@"; }

if [ "${SKIP_ENRICH:-0}" != 1 ]; then
  step $WB ingest "$SRC" --name beauty-15core --split loo --k-core 15 --replace
  step $WB model prepare
  step $WB augment item-attributes --schema product
  step $WB augment item-profiles
  step $WB train --model lightgcn --seed 1
  step $WB augment edges --run latest
  step $WB augment user-profiles --limit "$USERS"
  for source in item-attributes item-profiles user-profiles; do
    step $WB augment embed --source $source
  done
  step $WB jobs
fi
[ "${SKIP_ABLATION:-0}" = 1 ] || step $WB experiment ablation --seeds "$SEEDS" --epochs "$EPOCHS" ${VARIANTS:+--variants "$VARIANTS"}
echo "== $(date +%T) done"
