#!/usr/bin/env bash
# The enriched-graph study of issue #16 on the FULL Amazon-Beauty 5-core (22,363 users,
# 12,101 items, 198,502 interactions), under both protocols people use on it:
#   beauty-loo     leave-one-out by sequence order (as GRAM/P5)
#   beauty-random  seeded per-user random 0.8/0.1/0.1 (as LightGCN, RLMRec, AlphaRec)
# No LLM is needed: the items' own text (title, brand, categories, price) is embedded with the
# bundled all-MiniLM-L6-v2, attribute nodes come from the metadata columns, semantic IDs from
# residual k-means of the text embeddings. Then the ablation, the same protocol for every
# variant: lr 5e-3 (as in the first base probe; not swept), validation every 5 epochs,
# patience 3 evaluations,
# at least 20 and at most $EPOCHS epochs; each variant's own weight picked from a grid of 3 on
# validation with the first seed; $SEEDS seeds; paired bootstrap CIs against base.
#
#   WORKBENCH_HOME=/tmp/beauty bash bench/beauty_study.sh [path/to/amazon-beauty]
# DEVICE=cuda runs the training on a GPU; SKIP_PREPARE=1 reruns only the ablations;
# PROTOCOLS="loo" runs one protocol; VARIANTS=... a subset.
set -euo pipefail
SRC=${1:-../shared/data/amazon-beauty}
SEEDS=${SEEDS:-3}
EPOCHS=${EPOCHS:-60}
DEVICE=${DEVICE:-cpu}
PROTOCOLS=${PROTOCOLS:-"loo random"}
VARIANTS=${VARIANTS:-base,base-softmax,+attr,+codes,+attr+codes,+lang,+lang+id,+lang+attr}
WB=${WB:-.venv/bin/workbench}
step() { echo "== $(date +%T) $*"; "$@"; }

for protocol in $PROTOCOLS; do
  name=beauty-$protocol
  if [ "${SKIP_PREPARE:-0}" != 1 ]; then
    step $WB ingest "$SRC" --name "$name" --split "$protocol"
    step $WB augment embed --source item-text --dataset "$name"
    step $WB graph build --dataset "$name"
    step $WB stats --dataset "$name"
  fi
  step $WB experiment ablation --dataset "$name" --seeds "$SEEDS" --variants "$VARIANTS" \
      --epochs "$EPOCHS" --set lr=0.005 --set eval_every=5 --set patience=3 \
      --set min_epochs=20 --set device="$DEVICE" --set eval_batch_size=4096
done
echo "== $(date +%T) done"
