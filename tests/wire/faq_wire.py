#!/usr/bin/env python3
"""Drives faq-svc of a running sellerdesk over the wire with grpcio, via reflection.

usage: faq_wire.py write|verify ENDPOINT PLATFORM OWNER AGENT OTHER_OWNER
Prints 'N passed, N failed' and exits 1 if anything failed.
"""
import sys
import time

import grpc
from wire_client import bad_request_fields, check, connect, error_of, finish

SERVICE = "sellerdesk.faq.v1.FaqService"
HELP_CENTRE = 2
PRE_SALE = 2


def main():
    mode, endpoint, platform, owner, agent, other_owner = sys.argv[1:7]
    api = connect(endpoint, SERVICE)

    if mode == "write":
        greeting = api.call("GetGreeting", agent)
        check("R-FAQ-3/5 a new shop has the preset greeting and cards", greeting.greeting and len(greeting.cards) > 0, greeting)
        created = api.call("CreateEntry", owner, entry_id="wire-engrave",
                           content=dict(standard_question="可以刻字吗", similar_questions=["能不能刻名字"],
                                        answer="支持免费刻字。", category=PRE_SALE, enabled=True))
        check("R-FAQ-1 the owner creates an entry", created.entry.entry_id == "wire-engrave", created)
        e = error_of(lambda: api.call("CreateEntry", agent, content=dict(standard_question="q", answer="a", category=PRE_SALE)))
        check("R-FAQ-4 an agent may not change the knowledge base",
              e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        e = error_of(lambda: api.call("CreateEntry", owner, content=dict(standard_question="", answer="a", category=PRE_SALE)))
        check("R-FAQ-1 an empty question is INVALID_ARGUMENT naming the field",
              e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT
              and "content.standard_question" in bad_request_fields(e), e)
        e = error_of(lambda: api.call("GetEntry", other_owner, shop_id="wire-shop", entry_id="wire-engrave"))
        check("R-X-1 another shop gets NOT_FOUND", e is not None and e.code() == grpc.StatusCode.NOT_FOUND, e)
        help_answer = api.call("Match", agent, query="随心推最低投多少钱", knowledge_base=HELP_CENTRE)
        check("R-FAQ-9 the help centre answers a merchant",
              help_answer.auto_answer and "100元" in help_answer.best.answer, help_answer)
        # Shares hardly a word with its article: the lexical matcher ranks
        # another first; the image's sentence model (decision 0023) finds it.
        # The stage attaches once the help centre is embedded, seconds after
        # the service starts (decision 0024): until then it answers lexically.
        deadline = time.monotonic() + 120
        while True:
            staged = api.call("Match", agent, query="我想让更多人点赞留言", knowledge_base=HELP_CENTRE)
            if staged.best.standard_question == "如何增加互动量?" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        check("R-FAQ-9 the image's help centre has its sentence model",
              staged.best.standard_question == "如何增加互动量?", staged)

    m = api.call("Match", agent, query="能刻字吗", conversation_id="wire-c1")
    check(f"[{mode}] R-FAQ-7 the robot answers from the shop's entry",
          m.auto_answer and m.best.entry_id == "wire-engrave" and 0 < m.best.confidence <= 1, m)
    miss = api.call("Match", agent, query="你们老板叫什么名字", conversation_id="wire-c1")
    check(f"[{mode}] R-FAQ-7 an unknown question is not auto-answered", not miss.auto_answer, miss)
    rate = api.call("GetAnswerRate", owner)
    expected = (2, 2) if mode == "verify" else (1, 1)
    check(f"[{mode}] R-FAQ-8 answers and misses are counted across restarts",
          (rate.auto_answered, rate.missed) == expected, rate)
    finish()


if __name__ == "__main__":
    main()
