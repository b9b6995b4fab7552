#!/usr/bin/env python3
"""Fits the matcher's ranking weights and confidence calibration on ONE half of
the development set and reports that half (docs/faq-matching.md).

    sellerdesk faq eval --sentence-model off --kb help-centre --cases tests/eval/faq/dev/help-centre.jsonl --dump /tmp/hc.jsonl
    sellerdesk faq eval --sentence-model off --kb presets --cases tests/eval/faq/dev/presets.jsonl --dump /tmp/pr.jsonl
    sellerdesk faq eval --sentence-model off --kb shop-1000 --cases tests/eval/faq/dev/presets.jsonl --dump /tmp/s1k.jsonl
    python3 tests/eval/faq/tune.py --fit a --weights 0.8,0,0.9 /tmp/hc.jsonl /tmp/pr.jsonl /tmp/s1k.jsonl

(`off`: with a sentence model the dump lists every entry of a small base,
for e5_stage.py; this fit is the lexical matcher's.)

Prints the constants for crates/faq-svc/src/matcher/calibration.rs. Needs numpy.
The other half's figures only with --report-held-out. Without --weights the
ranking weights are searched on a grid too (the service keeps 0.8,0,0.9,
fitted on the first batch: the second stage is fitted over them). `--cv 10
--threshold 0.83` compares confidences out of fold inside the fitted half,
as decision 0027 did (docs/faq-matching.md, "The lexical confidence reads
each signal").
"""
import argparse, json, math, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from fitting import fold_of, logistic  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--fit", choices=["a", "b"], default="a", help="the half to fit on")
ap.add_argument("--precision", type=float, default=0.95, help="target auto-answer precision")
ap.add_argument("--conf", default="question,questions,entry",
                help="the confidence's inputs, of: score, entry, margin, ratio, question, questions "
                     "(the service's since decision 0027: question,questions,entry; until then score,entry)")
ap.add_argument("--weights", default=None,
                help="keep these ranking weights (questions,answer,entry; the service's are "
                     "0.8,0,0.9) and fit the confidence only: the stage's inputs stay as they are")
ap.add_argument("--threshold", type=float, default=None,
                help="report at this threshold instead of choosing one on the fitted half")
ap.add_argument("--cv", type=int, default=0,
                help="K folds of the fitted half (by query), each fitted on the rest: the fitted "
                     "half's figures as the folds left out answer them, and nothing of the other half")
ap.add_argument("--report-held-out", action="store_true",
                help="also print the other half's figures (a reported result: read it once, "
                     "choose nothing on it)")
ap.add_argument("dumps", nargs="+")
args = ap.parse_args()

cases = []
for path in args.dumps:
    for line in open(path, encoding="utf-8"):
        c = json.loads(line)
        c["kb"] = path
        cases.append(c)
fit = [c for c in cases if c["half"] == args.fit]
held = [c for c in cases if c["half"] != args.fit]


SIGNALS = ["question", "questions", "answer", "entry"]


def score(c, w):
    return c["question"] + sum(wi * c.get(k, 0.0) for wi, k in zip(w, SIGNALS[1:]))


def ranked(case, w):
    return sorted(case["candidates"], key=lambda c: -score(c, w))


def ranking_quality(cs, w):
    top1 = mrr = 0.0
    n = 0
    for case in cs:
        if not case["answerable"]:
            continue
        n += 1
        r = ranked(case, w)
        for i, c in enumerate(r):
            if c["right"]:
                mrr += 1 / (i + 1)
                top1 += i == 0
                break
    return top1 / n, mrr / n


def fit_ranking(cs):
    if args.weights:
        return tuple(float(x) for x in args.weights.split(","))
    grid = [x / 10 for x in range(0, 11)]
    # Every weighting on the grid is scored at once, with numpy.
    weights = np.array([(a, b, c) for a in grid for b in grid for c in grid])
    total = np.zeros(len(weights))
    for case in cs:
        if not case["answerable"] or not case["candidates"]:
            continue
        m = np.array([[c.get(k, 0.0) for k in SIGNALS] for c in case["candidates"]])
        right = np.array([c["right"] for c in case["candidates"]])
        scores = m[:, :1] + m[:, 1:] @ weights.T  # candidates x weightings
        # Rank of the right candidate under each weighting (ties broken against it).
        if right.any():
            r = scores[right.argmax()]
            rank = (scores > r).sum(axis=0) + (scores == r).sum(axis=0) - 1
            total += (rank == 0) + 1 / (rank + 1)
    # Top-1 alone has many ties on a set this size, and the arg-max among them
    # jumps with a handful of cases; adding MRR rewards weights that keep the
    # right entry close to the top as well.
    return tuple(float(x) for x in weights[int(total.argmax())])


def features(case, w):
    r = ranked(case, w)
    if not r:
        return None, 0
    s1 = score(r[0], w)
    # The margin over the runner-up was tried as a third input: its fitted
    # weight came out negative (it moves with the score), so it is left out.
    s2 = score(r[1], w) if len(r) > 1 else 0.0
    inputs = {
        "score": s1,
        "entry": r[0]["entry"],
        "margin": s1 - s2,
        "ratio": s2 / s1 if s1 > 0 else 1.0,
        "question": r[0]["question"],
        "questions": r[0]["questions"],
    }
    x = [inputs[k] for k in args.conf.split(",")]
    y = 1 if r[0]["right"] else 0
    return x, y


def design(cs, w):
    xs, ys = [], []
    for case in cs:
        x, y = features(case, w)
        if x is not None:
            xs.append(x)
            ys.append(y)
    return np.array(xs), np.array(ys, dtype=float)


def fit_all(cs):
    """Ranking weights, then the logistic confidence (Newton, small ridge)."""
    w = fit_ranking(cs)
    X, Y = design(cs, w)
    return w, logistic(X, Y)


def confidence(case, w, beta):
    """(confidence of the best entry or None, whether it is right)."""
    x, y = features(case, w)
    if x is None:
        return None, 0
    return 1 / (1 + math.exp(-(beta[0] + beta[1:] @ np.array(x)))), y


def at_threshold(answers, t):
    """answers: (case, confidence, right). Precision, coverage, null answered."""
    auto = right = ans = ans_auto = null = null_auto = 0
    for case, p, y in answers:
        a = p is not None and p >= t
        if case["answerable"]:
            ans += 1
            ans_auto += a
        else:
            null += 1
            null_auto += a
        auto += a
        right += a and y == 1
    return (right / auto if auto else 1.0, ans_auto / ans, null_auto / null if null else 0.0)


def chosen_threshold(answers):
    """The lowest at which these answers reach the target precision (with
    the null cases wrongly answered <= 5%)."""
    if args.threshold is not None:
        return args.threshold
    for t in [x / 100 for x in range(5, 100)]:
        p, c, n = at_threshold(answers, t)
        if p >= args.precision and n <= 0.05:
            return t
    return None


def report(name, answers, w, threshold):
    for kb in sorted({a[0]["kb"] for a in answers}):
        sub = [a for a in answers if a[0]["kb"] == kb]
        p, c, n = at_threshold(sub, threshold)
        t, m = ranking_quality([a[0] for a in sub], w)
        print(f"  {name} {kb}: top-1 {t:.3f} precision {p:.3f} coverage {c:.3f} null-answered {n:.3f}")
    p, c, n = at_threshold(answers, threshold)
    print(f"  {name} pooled: precision {p:.3f} coverage {c:.3f} null-answered {n:.3f}")
    # Log loss and Brier score of the confidence: lower is better
    # calibrated, whatever the threshold.
    ll = br = 0.0
    k = 0
    buckets = {}
    for _, p, y in answers:
        if p is None:
            continue
        q = min(max(p, 1e-9), 1 - 1e-9)
        ll -= y * math.log(q) + (1 - y) * math.log(1 - q)
        br += (q - y) ** 2
        k += 1
        b = min(int(p * 10), 9)
        r, n = buckets.get(b, (0, 0))
        buckets[b] = (r + y, n + 1)
    print(f"  {name}: log loss {ll / k:.3f}, Brier {br / k:.3f}")
    print(f"  reliability, {name} (confidence bucket: right / asked):")
    for b in sorted(buckets):
        r, n = buckets[b]
        print(f"    {b/10:.1f}-{(b+1)/10:.1f}: {r}/{n}")


if args.cv:
    def fold(case):
        return fold_of(case["query"], args.cv)
    answers = []
    for k in range(args.cv):
        w_k, beta_k = fit_all([c for c in fit if fold(c) != k])
        answers += [(c, *confidence(c, w_k, beta_k)) for c in fit if fold(c) == k]
    threshold = chosen_threshold(answers)
    print(f"threshold: {threshold}")
    w = fit_ranking(fit)
    report(f"{args.cv}-fold inside half {args.fit}", answers, w, threshold)
    sys.exit(0)

best, beta = fit_all(fit)
print("ranking weights (questions, answer, entry):", best)
t, m = ranking_quality(fit, best)
print(f"  fit: top-1 {t:.3f} MRR {m:.3f}")
print(f"calibration (bias, {args.conf}):", [round(float(b), 3) for b in beta])
fit_answers = [(c, *confidence(c, best, beta)) for c in fit]
threshold = chosen_threshold(fit_answers)
print("threshold:", threshold)
report("fit", fit_answers, best, threshold)
if not args.report_held_out:
    # A refit to read the constants must not show the half that is
    # reported: one look is enough to start choosing on it.
    print("held-out half not printed (--report-held-out prints it)")
    sys.exit(0)
report("held-out", [(c, *confidence(c, best, beta)) for c in held], best, threshold)
