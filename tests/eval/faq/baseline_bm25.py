#!/usr/bin/env python3
"""The plain baseline of docs/faq-matching.md: jieba (default dictionary, no
synonyms, no domain words) + BM25 (rank_bm25's Okapi, k1=1.5, b=0.75) over each
entry's standard and similar questions; an entry scores its best question.
Ranking figures only: BM25 scores are not a confidence, so no threshold.

    pip install jieba rank_bm25
    python3 tests/eval/faq/baseline_bm25.py help-centre tests/eval/faq/dev/help-centre.jsonl
    python3 tests/eval/faq/baseline_bm25.py presets tests/eval/faq/dev/presets.jsonl
"""
import json, re, sys, os
import jieba
from rank_bm25 import BM25Okapi

jieba.setLogLevel(60)
sys.path.insert(0, os.path.dirname(__file__))
from kb_text import help_centre, presets, strip  # noqa: E402


def half(q):
    h = 0xCBF29CE484222325
    for b in q.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "a" if h & 1 == 0 else "b"


kb, path = sys.argv[1], sys.argv[2]
entries = [qs for qs, _ in (help_centre() if kb == "help-centre" else presets())]
docs, owner = [], []
for i, qs in enumerate(entries):
    for q in qs:
        docs.append([w for w in jieba.lcut(strip(q))])
        owner.append(i)
bm25 = BM25Okapi(docs)
cases = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
for h in ("a", "b"):
    n = top1 = at3 = 0
    for c in cases:
        if half(c["query"]) != h or c["expect"] is None:
            continue
        n += 1
        scores = bm25.get_scores(jieba.lcut(strip(c["query"])))
        best = {}
        for s, i in zip(scores, owner):
            best[i] = max(best.get(i, float("-inf")), s)
        ranked = sorted(best, key=lambda i: -best[i])
        want = [i for i, qs in enumerate(entries) if strip(qs[0]) == strip(c["expect"])][0]
        top1 += ranked[0] == want
        at3 += want in ranked[:3]
    print(f"{kb} half {h}: {n} answerable, top-1 {top1 / n:.1%}, recall@3 {at3 / n:.1%}")
