#!/usr/bin/env python3
"""A small neural network against the reference linear model on the
complaint-reason folds (docs/ANALYSIS.md, "v1.5"): scikit-learn TF-IDF
(word 1-2 grams, min_df 2 + char_wb 2-5 grams, min_df 3, at most 30,000)
into LogisticRegression(C=1, balanced) and into MLPClassifier (one hidden
layer of 64, Adam, 8 epochs), the MLP's probabilities divided by the class
prior to the power pw (0, 0.5, 1) for balance, and the two averaged.
Not part of the product.

    DUMP=/tmp/reason.csv cargo run --release -p earshot-analysis --example wordvec
    python3 scripts/experiments/reason_mlp.py /tmp/reason.csv
(needs numpy, scipy, scikit-learn; about a minute)
"""
import csv
import re
import sys
import warnings

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.neural_network import MLPClassifier

warnings.filterwarnings("ignore")
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
texts = [re.sub(r"@\w+", "@user", r["text"]) for r in rows]
labels = np.array([r["label"] for r in rows])
res = {}
for fold in ["f1", "f2", "f3"]:
    va = np.array([r[fold] == "0" for r in rows])
    t = [x for x, v in zip(texts, va) if not v]
    v = [x for x, v in zip(texts, va) if v]
    w = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    c = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3,
                        max_features=30000, sublinear_tf=True)
    xt = hstack([w.fit_transform(t), c.fit_transform(t)]).tocsr()
    xv = hstack([w.transform(v), c.transform(v)]).tocsr()
    yt, yv = labels[~va], labels[va]
    lr = LogisticRegression(C=1, class_weight="balanced", max_iter=3000).fit(xt, yt)
    res.setdefault("lr", []).append(f1_score(yv, lr.predict(xv), average="macro"))
    p_lr = lr.predict_proba(xv)
    mlp = MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=8,
                        random_state=0, batch_size=128).fit(xt, yt)
    p = mlp.predict_proba(xv)
    prior = np.array([np.mean(yt == k) for k in mlp.classes_])
    for pw in [0, 0.5, 1]:
        q = p / prior**pw
        q = q / q.sum(1, keepdims=True)
        res.setdefault(f"mlp pw{pw}", []).append(
            f1_score(yv, mlp.classes_[q.argmax(1)], average="macro"))
        res.setdefault(f"avg lr+mlp pw{pw}", []).append(
            f1_score(yv, mlp.classes_[(q + p_lr).argmax(1)], average="macro"))
for k, v in res.items():
    print(f"{k:20s} macro-F1 {np.mean(v):.4f}  per fold {np.round(v, 4)}")
