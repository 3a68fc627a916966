#!/usr/bin/env bash
# The ablation of bench/beauty_study.sh on one GPU machine, for a store already prepared by it
# (ingest, item-text embeddings, graph build): the variants run as parallel processes, each on
# its own copy of the store (DuckDB has one writer per file), each with base beside its
# variants so that its paired intervals are computed against base in the same experiment.
#
#   bash bench/gpu_study.sh STORE DATASET OUTDIR
# SEEDS, EPOCHS, DEVICE (default cuda) and VARIANT_GROUPS (";"-separated lists) may be set.
set -euo pipefail
STORE=$1; DATASET=$2; OUTDIR=$3
SEEDS=${SEEDS:-3}
EPOCHS=${EPOCHS:-60}
GROUPS_=${VARIANT_GROUPS:-"base,base-softmax;base,+attr;base,+codes;base,+attr+codes;base,+lang;base,+lang+id;base,+lang+attr"}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUTDIR"
IFS=';' read -ra groups <<< "$GROUPS_"
pids=()
for n in "${!groups[@]}"; do
  home=$(mktemp -d); cp "$STORE" "$home/workbench.duckdb"
  ( WORKBENCH_HOME=$home $PY -m workbench experiment ablation --dataset "$DATASET" \
      --seeds "$SEEDS" --variants "${groups[$n]}" --epochs "$EPOCHS" --set lr=0.005 \
      --set eval_every=5 --set patience=3 --set min_epochs=20 --set device="$DEVICE" \
      --set eval_batch_size=4096 > "$OUTDIR/$DATASET-$n.log" 2>&1
    WORKBENCH_HOME=$home $PY - "$home/workbench.duckdb" >> "$OUTDIR/$DATASET-$n.log" \
        2>&1 <<'PY'
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
runs = con.execute("SELECT r.run_id, r.model, r.view, r.seed, r.best_epoch, r.wall_s, "
                   "avg(e.train_s), max(e.epoch), avg(e.eval_s), min(r.started_at) AS t "
                   "FROM runs r JOIN run_epochs e USING (run_id) "
                   "GROUP BY r.run_id, r.model, r.view, r.seed, r.best_epoch, r.wall_s "
                   "ORDER BY t").fetchall()
exp = con.execute("SELECT config, summary FROM experiments").fetchall()
print("RESULT_JSON", json.dumps({"runs": runs, "experiments": [[json.loads(c), json.loads(s)] for c, s in exp]},
                 default=str))  # one file per group: the log, then this line
PY
  ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || echo "a group failed: see $OUTDIR"; done
grep -h -A 12 "^experiment" "$OUTDIR"/*.log || tail -n 5 "$OUTDIR"/*.log
