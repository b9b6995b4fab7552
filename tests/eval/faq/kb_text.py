"""The two knowledge bases as the evaluation scripts read them: each entry's
questions (standard first) and its answer, from the files faq-svc loads."""
import json, os, re

root = os.path.join(os.path.dirname(__file__), "../../..")


def strip(s):
    return re.sub(r"[\s\W_]+", "", s)


def help_centre():
    text = open(os.path.join(root, "crates/faq-svc/data/help-centre-001.txt"), encoding="utf-8").read()
    marks = list(re.finditer(r"^\s*[\u2460-\u2473]\s*问[:：](.*)$", text, re.M))
    out = []
    for i, m in enumerate(marks):
        body = text[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        body = re.sub(r"^\s*\(.\)[^\n]*$", "", body, flags=re.M)
        answer = body.split("答", 1)[1] if "答" in body else body
        out.append(([m.group(1).strip()], answer.strip(" :：\n")))
    return out


def presets():
    d = json.load(open(os.path.join(root, "crates/faq-svc/data/presets.json"), encoding="utf-8"))
    return [([e["standard_question"]] + e["similar_questions"], e["answer"]) for e in d["entries"]]


def evaluation_queries(own):
    """Every query of the evaluation files here and in ../shared, normalised
    as `strip` and lower-cased, except the files whose names end in `own`."""
    import glob
    here = os.path.dirname(os.path.abspath(__file__))
    files = glob.glob(os.path.join(here, "**/*.jsonl"), recursive=True)
    files += glob.glob(os.path.join(root, "../shared/**/*.jsonl"), recursive=True)
    seen = set()
    for f in files:
        if f.endswith(own):
            continue
        for line in open(f, encoding="utf-8"):
            if line.strip():
                seen.add(strip(json.loads(line)["query"]).lower())
    return seen


def write_batch(path, q, null, expect, own):
    """Writes a batch of cases: `q` maps an entry's key to the queries
    written for it (`expect(key)` is the expected standard question), `null`
    holds the out-of-scope ones. Refuses a query repeated in the batch, one
    of another evaluation file (any but those ending in `own`) and one that
    is a knowledge base's own question."""
    new = [x for qs in q.values() for x in qs] + null
    assert len(new) == len(set(new)), "repeat"
    seen = evaluation_queries(own)
    clash = {x for x in new if strip(x).lower() in seen}
    assert not clash, f"in another evaluation file: {clash}"
    kb_questions = {strip(x).lower() for qs, _ in help_centre() + presets() for x in qs}
    asked = {x for x in new if strip(x).lower() in kb_questions}
    assert not asked, f"questions of a knowledge base: {asked}"
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dev"))
    from batches import write
    write(path, q, null, expect)
    print(path, sum(len(v) for v in q.values()), len(null))
