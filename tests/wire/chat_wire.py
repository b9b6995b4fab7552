#!/usr/bin/env python3
"""Drives chat-svc of a running sellerdesk over the wire with grpcio, via reflection.

usage: chat_wire.py write|verify ENDPOINT PLATFORM OWNER AGENT OTHER_OWNER CHAT_OWNER CHAT_AGENT
CHAT_OWNER and CHAT_AGENT act for shop `wire-chat`; CHAT_AGENT's account is `wire-agent`.
Prints 'N passed, N failed' and exits 1 if anything failed.
"""
import sys

import grpc
from wire_client import bad_request_fields, check, connect, error_of, finish

SERVICE = "sellerdesk.chat.v1.ChatService"
SHOP = "wire-chat"
BOTH, ONLINE = 3, 1
BUYER, ROBOT, AGENT, SYSTEM = 1, 2, 3, 4


def main():
    mode, endpoint, platform, _owner, _agent, other_owner, owner, me = sys.argv[1:9]
    api = connect(endpoint, SERVICE)

    if mode == "write":
        added = api.call("AddAgent", owner, agent_id="wire-agent", name="小李", phone="13800000001",
                         role=BOTH, permissions=dict(reply=True))
        check("R-CHAT-1/3 the owner adds an agent", added.agent.agent_id == "wire-agent", added)
        e = error_of(lambda: api.call("SetAgentStatus", me, status=ONLINE))
        check("R-CHAT-2 an unverified agent cannot go online",
              e is not None and e.code() == grpc.StatusCode.FAILED_PRECONDITION, e)
        api.call("VerifyAgentRealName", platform, shop_id=SHOP, agent_id="wire-agent")
        online = api.call("SetAgentStatus", me, status=ONLINE)
        check("R-CHAT-2 a verified agent goes online", online.agent.status == ONLINE, online)
        e = error_of(lambda: api.call("AddAgent", owner, agent_id="x", name="X", phone="not-a-phone", role=BOTH))
        check("bad input is INVALID_ARGUMENT naming the field",
              e is not None and "phone" in bad_request_fields(e), e)
        e = error_of(lambda: api.call("ListAgents", other_owner, shop_id=SHOP))
        check("R-X-1 another shop gets NOT_FOUND", e is not None and e.code() == grpc.StatusCode.NOT_FOUND, e)

        opened = api.call("OpenConversation", platform, shop_id=SHOP, conversation_id="wire-c1",
                          buyer_id="buyer-1", buyer_name="小王")
        check("R-FAQ-5 the buyer gets the greeting and FAQ cards from faq-svc",
              opened.replies and opened.replies[0].sender == SYSTEM and len(opened.replies[0].cards) > 0, opened)
        robot = api.call("SendBuyerMessage", platform, shop_id=SHOP, conversation_id="wire-c1",
                         message_id="m1", text="什么时候发货")
        check("R-CHAT-6 the robot answers first, through faq-svc",
              robot.robot_available and any(r.sender == ROBOT for r in robot.replies), robot)
        check("R-CHAT-7 only the robot answered: unreplied", robot.conversation.unreplied, robot.conversation)
        human = api.call("SendBuyerMessage", platform, shop_id=SHOP, conversation_id="wire-c1",
                         message_id="m2", text="转人工")
        check("R-CHAT-8 转人工 hands the buyer to the online agent",
              human.conversation.assignee_agent_id == "wire-agent", human)
        e = error_of(lambda: api.call("SendAgentReply", owner, conversation_id="wire-c1", message_id="r0", text="hi"))
        check("only agents reply", e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        reply = api.call("SendAgentReply", me, conversation_id="wire-c1", message_id="r1", text="亲，在的")
        check("the agent replies", reply.message.sender == AGENT, reply)
        read = api.call("MarkRead", platform, shop_id=SHOP, conversation_id="wire-c1",
                        up_to_position=reply.message.position)
        check("R-CHAT-13 the buyer's read receipt is kept",
              read.conversation.buyer_read_up_to == reply.message.position, read)
        e = error_of(lambda: api.call("SendBuyerMessage", platform, shop_id=SHOP, conversation_id="wire-c1",
                                      message_id="m3", attachment=dict(image_url="ftp://x")))
        check("R-CHAT-13 a bad attachment names the request's field",
              e is not None and "attachment.image_url" in bad_request_fields(e), e)

    # R-CHAT-13: the buyer's side, played as the buyer gateway does, before
    # and after the restart: the same items, each once, in order.
    seen = api.stream("WatchConversation", platform, 20, shop_id=SHOP, conversation_id="wire-c1")
    kinds = [i.WhichOneof("item") for i in seen]
    check(f"[{mode}] R-CHAT-13 the buyer's stream: greeting, own messages, robot, handover, agent, receipt",
          kinds == ["message", "message", "message", "message", "handover", "message", "message", "read"], kinds)
    texts = [i.message.text for i in seen if i.WhichOneof("item") == "message"]
    check(f"[{mode}] R-CHAT-13 the buyer reads the agent's reply", texts[-1:] == ["亲，在的"], texts)
    positions = [i.position for i in seen]
    check(f"[{mode}] R-CHAT-13 positions only grow", positions == sorted(set(positions)), positions)
    if len(seen) > 3:
        rest = api.stream("WatchConversation", platform, 20, shop_id=SHOP, conversation_id="wire-c1",
                          after_position=seen[2].position)
        check(f"[{mode}] R-CHAT-13 a reconnect after an item resumes with exactly the rest",
              [i.position for i in rest] == positions[3:], rest)

    inbox = api.stream("WatchInbox", me, 4)
    assigned = [i for i in inbox if i.WhichOneof("item") == "assigned"]
    check(f"[{mode}] R-CHAT-5 the inbox replays the assignment with what the buyer said",
          assigned and [m.text for m in assigned[0].history][-1:] == ["转人工"], inbox)
    messages = [i.message.text for i in inbox if i.WhichOneof("item") == "message"]
    check(f"[{mode}] R-CHAT-5 the inbox holds the agent's own reply (every device sees it)",
          messages == ["亲，在的"], inbox)
    after = inbox[-1].position if inbox else 0
    check(f"[{mode}] R-CHAT-5 resuming after the last position gives nothing twice",
          api.stream("WatchInbox", me, 1, after_position=after) == [], after)
    got = api.call("GetConversation", owner, conversation_id="wire-c1")
    senders = [m.sender for m in got.transcript]
    check(f"[{mode}] the transcript survives: greeting, buyer, robot, buyer, notice, agent",
          senders == [SYSTEM, BUYER, ROBOT, BUYER, SYSTEM, AGENT], senders)
    check(f"[{mode}] R-CHAT-7 answered by a human: no longer unreplied", not got.conversation.unreplied, got)
    agent = api.call("GetAgent", owner, agent_id="wire-agent").agent
    check(f"[{mode}] the agent's status is kept", agent.status == ONLINE and agent.open_conversations == 1, agent)
    finish()


if __name__ == "__main__":
    main()
