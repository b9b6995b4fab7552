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
