#!/usr/bin/env bash
# #25 before/after: bench adapt and bench sac, alternating the commit before the consolidation (aa76648, a worktree
# at /work/before) and after it (c3707e0, at /work/after), 3 rounds, on core 1. Ratios of the outputs (not
# committed) are in benchmarks/results/consolidation_before_after.json.
OUT="$(pwd)/benchmarks/results/before_after"; mkdir -p "$OUT"  # run from the repository root
for round in 1 2 3; do
  for side in before after; do
    cd /work/$side
    PYTHONPATH=/work/$side/src taskset -c 1 /work/main/.venv/bin/python -c "from daftrl.cli import main; import sys; sys.exit(main(sys.argv[1:]))" \
      bench adapt --methods daft ft --rounds 3 --loop-steps 2000 --out $OUT/adapt-$side-$round.json > $OUT/adapt-$side-$round.log 2>&1
    PYTHONPATH=/work/$side/src taskset -c 1 /work/main/.venv/bin/python -c "from daftrl.cli import main; import sys; sys.exit(main(sys.argv[1:]))" \
      bench sac --no-external --batch-sizes 128 --reps 3 --rounds 2 --e2e-steps 2000 --out $OUT/sac-$side-$round.json > $OUT/sac-$side-$round.log 2>&1
  done
done
echo done > "$OUT/finished"
