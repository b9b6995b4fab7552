# What both development-set writers share: joining a later batch to the
# first, and writing the cases out.
import json


def joined(q, null, q2, null2):
    """The first batch's queries by entry (`q`) and out of scope (`null`)
    with a later batch's added; a later query may not repeat any other."""
    first = {x for qs in q.values() for x in qs} | set(null)
    later = [x for qs in q2.values() for x in qs] + null2
    assert len(later) == len(set(later)), "a query repeats within the later batch"
    assert not first & set(later), first & set(later)
    assert set(q2) <= set(q), set(q2) - set(q)
    return {k: qs + q2.get(k, []) for k, qs in q.items()}, null + null2


def write(path, q, null, expect_of):
    """One case a line: each entry's queries expecting `expect_of(key)`,
    then the out-of-scope ones expecting nothing."""
    with open(path, "w", encoding="utf-8") as f:
        for k, qs in q.items():
            for x in qs:
                f.write(json.dumps({"query": x, "expect": expect_of(k)}, ensure_ascii=False) + "\n")
        for x in null:
            f.write(json.dumps({"query": x, "expect": None}, ensure_ascii=False) + "\n")
