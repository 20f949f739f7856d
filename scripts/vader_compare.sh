#!/usr/bin/env bash
# Runs the same file (one text per line) through Python's vaderSentiment and
# through `earshot analyze --file`, one core each, and prints the throughput ratio.
#   scripts/vader_compare.sh FILE [EARSHOT_BIN]
# Needs: pip install vaderSentiment. EARSHOT_BIN defaults to target/release/earshot.
set -euo pipefail
FILE=${1:?usage: scripts/vader_compare.sh FILE [EARSHOT_BIN]}
BIN=${2:-target/release/earshot}
N=$(wc -l < "$FILE")
VADER_S=$(python3 - "$FILE" <<'PY'
import sys, time
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
a = SentimentIntensityAnalyzer()
t = time.perf_counter()
for l in lines:
    a.polarity_scores(l)
print(time.perf_counter() - t)
PY
)
T0=$(date +%s.%N)
"$BIN" analyze --file "$FILE" --threads 1 > /dev/null
T1=$(date +%s.%N)
EARSHOT_S=$(echo "$T1 - $T0" | bc -l)
python3 - "$N" "$VADER_S" "$EARSHOT_S" <<'PY'
import sys
n, v, e = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"texts: {n}")
print(f"vaderSentiment (python, 1 core): {n / v:,.0f} texts/s (sentiment only)")
print(f"earshot analyze --file (1 thread, full analysis + JSONL): {n / e:,.0f} texts/s")
print(f"ratio earshot/vader: {v / e:.1f}x")
PY
