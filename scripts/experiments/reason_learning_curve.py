#!/usr/bin/env python3
"""How the complaint-reason score grows with the number of labels: scikit-
learn TF-IDF (word 1-2 + char_wb 2-5) + logistic regression, the reference
recipe of docs/ANALYSIS.md, trained on 25/50/75/100 % of each of the three
train-only folds of `tune -- cat` and scored on that fold (macro-F1 over the
taxonomy classes). Not part of the product.

    DUMP=/tmp/reason.csv cargo run --release -p earshot-analysis --example wordvec
    python3 scripts/experiments/reason_learning_curve.py /tmp/reason.csv
(needs numpy, scipy, scikit-learn)
"""
import csv
import re
import sys

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
texts = [re.sub(r"@\w+", "@user", r["text"]) for r in rows]
labels = np.array([r["label"] for r in rows])
rng = np.random.RandomState(0)


def fit_score(train, val):
    t = [texts[i] for i in train]
    v = [texts[i] for i in val]
    w = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    c = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
    xt = hstack([w.fit_transform(t), c.fit_transform(t)]).tocsr()
    xv = hstack([w.transform(v), c.transform(v)]).tocsr()
    lr = LogisticRegression(C=1, class_weight="balanced", max_iter=3000).fit(xt, labels[train])
    return f1_score(labels[val], lr.predict(xv), average="macro")


for frac in [0.25, 0.5, 0.75, 1.0]:
    per_fold = []
    for fold in ["f1", "f2", "f3"]:
        val = np.array([i for i, r in enumerate(rows) if r[fold] == "0"])
        train = np.array([i for i, r in enumerate(rows) if r[fold] != "0"])
        reps = 2 if frac < 1 else 1
        scores = [
            fit_score(rng.choice(train, int(len(train) * frac), replace=False), val)
            for _ in range(reps)
        ]
        per_fold.append(np.mean(scores))
    print(f"{frac:.2f} of the fold's training rows ({int(frac * len(train))}): "
          f"macro-F1 {np.mean(per_fold):.4f}  per fold {np.round(per_fold, 4)}")
