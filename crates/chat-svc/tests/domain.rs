//! The pure chat domain, given/when/then, named by rule (R-CHAT-*).

use chat_svc::domain::{
    metrics::{report, Window},
    phrases, AgentStatus, AssignmentRule, BuyerNotice, ChatDesk, Command, DeskSettings,
    DomainError, Event, HandoverReason, Limits, Permissions, QuickPhrase, RobotVerdict,
    ServiceHours, ServiceRole, Topic,
};
use chrono::{DateTime, Duration, Utc};
use sellerdesk_core::testing;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Monday 2026-03-02 10:00 in Shanghai.
fn t0() -> DateTime<Utc> {
    t("2026-03-02T02:00:00Z")
}

/// The shared given/when/then harness over a desk, keeping the log of
/// everything that happened (the figures are computed from it).
struct Desk {
    g: testing::Given<'static, chat_svc::domain::Desk>,
    log: Vec<Event>,
}

impl Desk {
    fn new() -> Self {
        Self {
            g: testing::given_with::<chat_svc::domain::Desk>(Limits::default(), &[]),
            log: Vec::new(),
        }
    }

    fn desk(&self) -> &ChatDesk {
        &self.g.state
    }

    /// When: decides and applies, returning the events.
    fn when(&mut self, c: Command) -> Result<Vec<Event>, DomainError> {
        let events = self.g.when(&c).outcome?;
        self.log.extend(events.iter().cloned());
        Ok(events)
    }

    fn ok(&mut self, c: Command) -> Vec<Event> {
        self.when(c).expect("command accepted")
    }

    fn agent(&mut self, id: &str, role: ServiceRole) {
        let phone = format!("1380000{:04}", self.desk().agents.len());
        self.ok(Command::AddAgent {
            agent_id: id.into(),
            name: id.to_uppercase(),
            phone,
            role,
            permissions: Permissions {
                reply: true,
                ..Default::default()
            },
            capacity: None,
        });
    }

    fn online(&mut self, id: &str, role: ServiceRole) {
        self.agent(id, role);
        self.ok(Command::VerifyAgentRealName {
            agent_id: id.into(),
        });
        self.status(id, AgentStatus::Online, t0());
    }

    fn status(&mut self, id: &str, status: AgentStatus, at: DateTime<Utc>) -> Vec<Event> {
        self.ok(Command::SetAgentStatus {
            agent_id: id.into(),
            status,
            at,
        })
    }

    fn open(&mut self, id: &str, topic: Topic, at: DateTime<Utc>) {
        self.ok(Command::OpenConversation {
            conversation_id: id.into(),
            buyer_id: format!("buyer-{id}"),
            buyer_name: "小王".into(),
            order_id: None,
            topic: Some(topic),
            greeting: BuyerNotice::Greeting {
                text: "您好".into(),
                cards: vec![],
            },
            at,
        });
    }

    fn buyer(
        &mut self,
        conv: &str,
        msg: &str,
        text: &str,
        robot: RobotVerdict,
        at: DateTime<Utc>,
    ) -> Vec<Event> {
        self.ok(Command::ReceiveBuyerMessage {
            conversation_id: conv.into(),
            message_id: msg.into(),
            text: text.into(),
            attachment: None,
            robot,
            at,
        })
    }

    fn reply(
        &mut self,
        conv: &str,
        agent: &str,
        msg: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Event>, DomainError> {
        self.when(Command::SendAgentReply {
            conversation_id: conv.into(),
            agent_id: agent.into(),
            message_id: msg.into(),
            text: "您好，在的".into(),
            attachment: None,
            at,
        })
    }

    fn assignee(&self, conv: &str) -> Option<String> {
        self.desk().conversation(conv).unwrap().assignee.clone()
    }
}

fn no_answer() -> RobotVerdict {
    RobotVerdict::NoAnswer { confidence: 0.1 }
}

fn answered() -> RobotVerdict {
    RobotVerdict::Answered {
        entry_id: "e1".into(),
        answer: "48小时内发货".into(),
        confidence: 0.9,
        topic: None,
    }
}

fn assigned(events: &[Event]) -> Vec<(&str, &str, &AssignmentRule)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ConversationAssigned {
                conversation_id,
                agent_id,
                rule,
                ..
            } => Some((conversation_id.as_str(), agent_id.as_str(), rule)),
            _ => None,
        })
        .collect()
}

#[test]
fn r_chat_1_a_shop_has_at_most_the_configured_number_of_agents() {
    let mut d = Desk::new();
    d.g.context_mut().max_agents = 3;
    for i in 0..3 {
        d.agent(&format!("a{i}"), ServiceRole::Both);
    }
    let err = d
        .when(Command::AddAgent {
            agent_id: "a3".into(),
            name: "X".into(),
            phone: "13900000000".into(),
            role: ServiceRole::Both,
            permissions: Permissions::default(),
            capacity: None,
        })
        .unwrap_err();
    assert!(matches!(err, DomainError::LimitReached(_)), "{err:?}");
    assert_eq!(Limits::default().max_agents, 20);
}

#[test]
fn r_chat_2_an_agent_needs_a_phone_and_real_name_verification_before_going_online() {
    let mut d = Desk::new();
    let bad_phone = d.when(Command::AddAgent {
        agent_id: "a".into(),
        name: "A".into(),
        phone: "call me".into(),
        role: ServiceRole::Both,
        permissions: Permissions::default(),
        capacity: None,
    });
    assert!(matches!(bad_phone, Err(DomainError::Invalid(f)) if f[0].0 == "phone"));
    d.agent("a", ServiceRole::Both);
    let refused = d.when(Command::SetAgentStatus {
        agent_id: "a".into(),
        status: AgentStatus::Online,
        at: t0(),
    });
    assert!(
        matches!(
            refused,
            Err(DomainError::Precondition {
                reason: "REAL_NAME_NOT_VERIFIED",
                ..
            })
        ),
        "{refused:?}"
    );
    d.ok(Command::VerifyAgentRealName {
        agent_id: "a".into(),
    });
    d.status("a", AgentStatus::Online, t0());
    // The same phone cannot back a second account.
    let dup = d.when(Command::AddAgent {
        agent_id: "b".into(),
        name: "B".into(),
        phone: d.desk().agents["a"].phone.clone(),
        role: ServiceRole::Both,
        permissions: Permissions::default(),
        capacity: None,
    });
    assert!(matches!(
        dup,
        Err(DomainError::AlreadyExists { kind: "phone", .. })
    ));
}

#[test]
fn r_chat_3_and_r_chat_4_routing_takes_the_fitting_online_agent_with_fewest_open() {
    let mut d = Desk::new();
    d.online("pre1", ServiceRole::PreSale);
    d.online("pre2", ServiceRole::PreSale);
    d.online("after", ServiceRole::AfterSale);
    d.agent("offline", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    let e = d.buyer("c1", "m1", "在吗", no_answer(), t0());
    let a = assigned(&e);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].2, &AssignmentRule::FewestOpen);
    let first = a[0].1.to_owned();
    assert!(first.starts_with("pre"), "{first}");
    // The explanation names every agent weighed, with its load.
    let Some(Event::ConversationAssigned { candidates, .. }) = e
        .iter()
        .find(|e| matches!(e, Event::ConversationAssigned { .. }))
    else {
        unreachable!()
    };
    assert_eq!(
        candidates.len(),
        2,
        "only online pre-sale agents: {candidates:?}"
    );
    d.open("c2", Topic::PreSale, t0());
    let e = d.buyer("c2", "m2", "转人工", RobotVerdict::NotAsked, t0());
    let second = assigned(&e)[0].1;
    assert_ne!(second, first, "fewest open conversations first");
    d.open("c3", Topic::AfterSale, t0());
    let e = d.buyer("c3", "m3", "我要退款", no_answer(), t0());
    assert_eq!(assigned(&e)[0].1, "after", "role fits the topic");
}

#[test]
fn r_chat_4_busy_agents_keep_theirs_and_get_nothing_new_then_the_queue_drains() {
    let mut d = Desk::new();
    d.online("a", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    d.buyer("c1", "m1", "转人工", RobotVerdict::NotAsked, t0());
    assert_eq!(d.assignee("c1").as_deref(), Some("a"));
    d.status("a", AgentStatus::Busy, t0());
    d.open("c2", Topic::PreSale, t0());
    let e = d.buyer("c2", "m2", "转人工", RobotVerdict::NotAsked, t0());
    assert!(assigned(&e).is_empty());
    assert!(e.iter().any(|e| matches!(
        e,
        Event::BuyerNotified {
            notice: BuyerNotice::QueuePlace { place: 1 },
            ..
        }
    )));
    assert_eq!(
        d.assignee("c1").as_deref(),
        Some("a"),
        "busy keeps its conversations"
    );
    let later = t0() + Duration::seconds(40);
    let e = d.status("a", AgentStatus::Online, later);
    let a = assigned(&e);
    assert_eq!(a.len(), 1, "{e:?}");
    assert_eq!(a[0].0, "c2");
    assert_eq!(a[0].2, &AssignmentRule::FromQueue { waited_secs: 40 });
    assert!(d.desk().queue.is_empty());
}

#[test]
fn r_chat_4_capacity_queue_cap_and_assignment_the_moment_someone_frees_up() {
    let mut d = Desk::new();
    d.ok(Command::UpdateSettings {
        settings: DeskSettings {
            queue_capacity: 1,
            default_agent_capacity: 1,
            ..DeskSettings::default()
        },
    });
    d.online("a", ServiceRole::Both);
    for c in ["c1", "c2", "c3"] {
        d.open(c, Topic::PreSale, t0());
        d.buyer(c, &format!("{c}-m"), "转人工", RobotVerdict::NotAsked, t0());
    }
    assert_eq!(d.assignee("c1").as_deref(), Some("a"));
    assert_eq!(d.desk().queue_place("c2"), Some(1));
    assert_eq!(d.desk().queue_place("c3"), None, "the queue holds one");
    let c3 = &d.desk().conversation("c3").unwrap();
    assert!(c3.assignee.is_none());
    let e = d.ok(Command::Close {
        conversation_id: "c1".into(),
        by: "agent:a".into(),
        at: t0() + Duration::seconds(5),
    });
    assert_eq!(
        assigned(&e),
        vec![("c2", "a", &AssignmentRule::FromQueue { waited_secs: 5 })]
    );
    // The buyer who found the queue full tries again and now gets a place.
    let e = d.buyer(
        "c3",
        "c3-m2",
        "转人工",
        RobotVerdict::NotAsked,
        t0() + Duration::seconds(6),
    );
    assert!(
        e.iter()
            .any(|e| matches!(e, Event::ConversationQueued { place: 1, .. })),
        "{e:?}"
    );
}

#[test]
fn r_chat_4_an_unanswered_conversation_is_reassigned_after_the_timeout() {
    let mut d = Desk::new();
    d.online("a", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    d.buyer("c1", "m1", "转人工", RobotVerdict::NotAsked, t0());
    d.online("b", ServiceRole::Both);
    let limit = DeskSettings::default().reassign_after_secs as i64;
    assert!(d
        .ok(Command::Tick {
            at: t0() + Duration::seconds(limit - 1)
        })
        .is_empty());
    let e = d.ok(Command::Tick {
        at: t0() + Duration::seconds(limit),
    });
    assert_eq!(
        assigned(&e),
        vec![(
            "c1",
            "b",
            &AssignmentRule::UnansweredTimeout { waited_secs: limit }
        )]
    );
    assert!(matches!(&e[0], Event::ConversationAssigned { previous: Some(p), .. } if p == "a"));
    // Once a human answered, nobody is waiting and time does nothing.
    d.reply("c1", "b", "r1", t0() + Duration::seconds(limit + 1))
        .unwrap();
    assert!(d
        .ok(Command::Tick {
            at: t0() + Duration::seconds(10 * limit)
        })
        .is_empty());
    assert!(!d.desk().has_timers());
}

#[test]
fn r_chat_4_an_agent_going_offline_hands_conversations_to_colleagues_or_the_queue() {
    let mut d = Desk::new();
    d.online("a", ServiceRole::PreSale);
    d.online("b", ServiceRole::AfterSale);
    d.open("c1", Topic::PreSale, t0());
    d.buyer("c1", "m1", "转人工", RobotVerdict::NotAsked, t0());
    let e = d.status("a", AgentStatus::Offline, t0());
    assert!(
        e.iter()
            .any(|e| matches!(e, Event::ConversationReleased { .. })),
        "b does not fit: {e:?}"
    );
    assert_eq!(d.desk().queue_place("c1"), Some(1));
    d.online("c", ServiceRole::Both);
    assert_eq!(d.assignee("c1").as_deref(), Some("c"));
    let e = d.ok(Command::RemoveAgent {
        agent_id: "c".into(),
        at: t0(),
    });
    assert!(matches!(e.last(), Some(Event::AgentRemoved { .. })));
    assert_eq!(d.desk().queue_place("c1"), Some(1));
}

#[test]
fn r_chat_5_the_inbox_of_an_agent_holds_its_conversations_only() {
    let mut d = Desk::new();
    d.online("a", ServiceRole::Both);
    d.online("b", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    let e1 = d.buyer("c1", "m1", "转人工", RobotVerdict::NotAsked, t0());
    let to = assigned(&e1)[0].1.to_owned();
    let other = if to == "a" { "b" } else { "a" };
    let e2 = d.buyer("c1", "m2", "还在吗", RobotVerdict::NotAsked, t0());
    assert!(e2[0].concerns_agent(&to));
    assert!(!e2[0].concerns_agent(other));
    let reply = d.reply("c1", &to, "r1", t0()).unwrap();
    assert!(reply[0].concerns_agent(&to));
}

#[test]
fn r_chat_6_a_confident_match_is_sent_as_an_automatic_reply() {
    let mut d = Desk::new();
    d.online("a", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    let e = d.buyer("c1", "m1", "几天发货", answered(), t0());
    assert!(matches!(&e[1], Event::RobotReplied { text, .. } if text == "48小时内发货"));
    assert!(assigned(&e).is_empty(), "the robot answered: no handover");
    // The same message id again (a retry) changes nothing.
    assert!(d.buyer("c1", "m1", "几天发货", answered(), t0()).is_empty());
}

#[test]
fn r_chat_7_a_conversation_with_only_automatic_replies_is_unreplied() {
    let mut d = Desk::new();
    d.open("c1", Topic::PreSale, t0());
    d.buyer("c1", "m1", "几天发货", answered(), t0());
    let r = report(
        d.desk(),
        Window {
            from: t0(),
            to: t0() + Duration::hours(1),
        },
        t0() + Duration::minutes(5),
    );
    assert_eq!(r.shop.unreplied, 1);
    assert_eq!(r.shop.answered, 0);
    assert_eq!(r.shop.robot_replies, 1);
    assert_eq!(r.shop.within_target_share, Some(0.0));
}

#[test]
fn r_chat_8_the_robot_hands_over_when_asked_when_it_cannot_answer_and_when_it_is_down() {
    for (text, robot, reason) in [
        ("转人工", answered(), HandoverReason::BuyerAsked),
        (
            "我 要 人 工!",
            RobotVerdict::NotAsked,
            HandoverReason::BuyerAsked,
        ),
        (
            "你们家猫粮适合幼猫吗",
            no_answer(),
            HandoverReason::RobotNoAnswer,
        ),
        (
            "几天发货",
            RobotVerdict::Unavailable,
            HandoverReason::RobotUnavailable,
        ),
    ] {
        let mut d = Desk::new();
        d.online("a", ServiceRole::Both);
        d.open("c1", Topic::PreSale, t0());
        let e = d.buyer("c1", "m1", text, robot, t0());
        assert!(
            e.iter()
                .any(|e| matches!(e, Event::HumanRequested { reason: r, .. } if *r == reason)),
            "{text}: {e:?}"
        );
        assert!(
            !e.iter().any(|e| matches!(e, Event::RobotReplied { .. })),
            "{text}"
        );
        assert_eq!(d.assignee("c1").as_deref(), Some("a"));
    }
}

#[test]
fn r_chat_9_outside_service_hours_only_the_robot_answers_and_the_buyer_learns_when() {
    let mut d = Desk::new();
    d.ok(Command::SetServiceHours {
        hours: ServiceHours::workdays_nine_to_six("Asia/Shanghai"),
    });
    d.online("a", ServiceRole::Both);
    // Saturday 2026-03-07 12:00 Shanghai.
    let saturday = t("2026-03-07T04:00:00Z");
    d.open("c1", Topic::PreSale, saturday);
    let e = d.buyer("c1", "m1", "几天发货", answered(), saturday);
    assert!(
        matches!(&e[1], Event::RobotReplied { .. }),
        "the robot still answers"
    );
    let e = d.buyer("c1", "m2", "转人工", RobotVerdict::NotAsked, saturday);
    let monday_nine = t("2026-03-09T01:00:00Z");
    let told = e.iter().find_map(|e| match e {
        Event::BuyerNotified {
            notice: BuyerNotice::OutsideHours { back_at },
            text,
            ..
        } => Some((*back_at, text.clone())),
        _ => None,
    });
    let (back_at, text) = told.expect("told when humans are back");
    assert_eq!(back_at, Some(monday_nine));
    assert!(text.contains("2026-03-09 09:00"), "{text}");
    assert!(assigned(&e).is_empty(), "nobody is routed outside hours");
    // When hours open, the waiting conversation goes to the agent.
    assert!(d
        .ok(Command::Tick {
            at: monday_nine - Duration::seconds(1)
        })
        .is_empty());
    let e = d.ok(Command::Tick { at: monday_nine });
    assert_eq!(assigned(&e).len(), 1);
    // Holidays close a workday; exception days open a weekend.
    let mut hours = ServiceHours::workdays_nine_to_six("Asia/Shanghai");
    hours
        .holidays
        .push(chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap());
    assert!(!hours.is_open(t("2026-03-09T02:00:00Z")));
    assert_eq!(
        hours.next_opening(saturday),
        Some(t("2026-03-10T01:00:00Z"))
    );
    let bad = ServiceHours {
        time_zone: "Mars/Olympus".into(),
        ..ServiceHours::default()
    };
    assert!(matches!(bad.validate(), Err(DomainError::Invalid(f)) if f[0].0 == "hours.time_zone"));
}

/// R-CHAT-4, R-CHAT-9: the instant the scheduler keeps for a desk is the
/// first at which a tick would decide something, and there is none while
/// only a command can change what a tick decides.
#[test]
fn r_chat_9_time_next_acts_when_a_tick_would_decide_something_and_never_otherwise() {
    let mut d = Desk::new();
    d.ok(Command::SetServiceHours {
        hours: ServiceHours::workdays_nine_to_six("Asia/Shanghai"),
    });
    // Saturday 2026-03-07 12:00 and Monday 09:00 in Shanghai.
    let saturday = t("2026-03-07T04:00:00Z");
    let monday_nine = t("2026-03-09T01:00:00Z");
    assert_eq!(d.desk().next_tick(saturday), None, "nothing waits");
    d.open("c1", Topic::PreSale, saturday);
    d.buyer("c1", "m1", "转人工", RobotVerdict::NotAsked, saturday);
    assert!(d.desk().has_timers(), "the buyer waits for Monday");
    assert_eq!(
        d.desk().next_tick(saturday),
        None,
        "nobody could take the buyer at opening: only a command can change that"
    );
    let online_at = |d: &mut Desk, id: &str, at| {
        d.agent(id, ServiceRole::Both);
        d.ok(Command::VerifyAgentRealName {
            agent_id: id.into(),
        });
        d.status(id, AgentStatus::Online, at)
    };
    assert!(assigned(&online_at(&mut d, "a", saturday)).is_empty());
    assert_eq!(d.desk().next_tick(saturday), Some(monday_nine));
    assert_eq!(
        d.desk().next_tick(monday_nine + Duration::hours(2)),
        Some(monday_nine + Duration::hours(2)),
        "an opening already past is due at once"
    );
    let e = d.ok(Command::Tick { at: monday_nine });
    assert_eq!(assigned(&e).len(), 1);
    // Assigned and unanswered: the silence limit is the next instant, but
    // only if someone else could take the conversation then.
    let limit = Duration::seconds(DeskSettings::default().reassign_after_secs as i64);
    assert_eq!(d.desk().next_tick(monday_nine), None, "a is alone");
    online_at(&mut d, "b", monday_nine);
    assert_eq!(d.desk().next_tick(monday_nine), Some(monday_nine + limit));
    let e = d.ok(Command::Tick {
        at: monday_nine + limit,
    });
    assert_eq!(
        assigned(&e),
        vec![(
            "c1",
            "b",
            &AssignmentRule::UnansweredTimeout {
                waited_secs: limit.num_seconds()
            }
        )]
    );
    d.reply("c1", "b", "r1", monday_nine + limit).unwrap();
    assert_eq!(d.desk().next_tick(monday_nine + limit), None, "answered");
}

#[test]
fn r_chat_10_quick_phrases_fill_placeholders_and_refuse_unknown_ones() {
    let mut d = Desk::new();
    let phrase = QuickPhrase {
        phrase_id: "p1".into(),
        title: "发货".into(),
        text: "{buyer_name}您好，订单{order_id}今天发出".into(),
        agent_id: None,
    };
    d.ok(Command::SaveQuickPhrase {
        phrase: phrase.clone(),
        create: true,
    });
    assert!(d
        .ok(Command::SaveQuickPhrase {
            phrase: phrase.clone(),
            create: true
        })
        .is_empty());
    let typo = QuickPhrase {
        text: "{buyer_nmae}您好".into(),
        ..phrase.clone()
    };
    assert!(matches!(
        d.when(Command::SaveQuickPhrase { phrase: typo, create: false }),
        Err(DomainError::Invalid(f)) if f[0].0 == "phrase.text"
    ));
    assert_eq!(
        phrases::render(&phrase.text, "小王", Some("O-1"), "A"),
        "小王您好，订单O-1今天发出"
    );
}

/// Issue 18 item 6: an agent keeps quick phrases of its own beside the
/// shop's, under the same placeholders and limit; the same id in both books
/// is two phrases; an unknown agent keeps none.
#[test]
fn r_chat_10_agents_keep_their_own_quick_phrases_beside_the_shops() {
    let mut d = Desk::new();
    d.agent("a1", ServiceRole::Both);
    let mine = QuickPhrase {
        phrase_id: "p1".into(),
        title: "我的问候".into(),
        text: "{buyer_name}您好，我是{agent_name}".into(),
        agent_id: Some("a1".into()),
    };
    let shops = QuickPhrase {
        agent_id: None,
        text: "您好".into(),
        ..mine.clone()
    };
    d.ok(Command::SaveQuickPhrase {
        phrase: mine.clone(),
        create: true,
    });
    d.ok(Command::SaveQuickPhrase {
        phrase: shops.clone(),
        create: true,
    });
    assert_eq!(d.desk().agents["a1"].phrases["p1"], mine);
    assert_eq!(d.desk().phrases["p1"], shops);
    let typo = QuickPhrase {
        text: "{agent}".into(),
        ..mine.clone()
    };
    assert!(matches!(
        d.when(Command::SaveQuickPhrase {
            phrase: typo,
            create: false
        }),
        Err(DomainError::Invalid(_))
    ));
    let stranger = QuickPhrase {
        agent_id: Some("ghost".into()),
        ..mine.clone()
    };
    assert!(matches!(
        d.when(Command::SaveQuickPhrase {
            phrase: stranger,
            create: true
        }),
        Err(DomainError::NotFound { kind: "agent", .. })
    ));
    d.ok(Command::DeleteQuickPhrase {
        phrase_id: "p1".into(),
        agent_id: Some("a1".into()),
    });
    assert!(d.desk().agents["a1"].phrases.is_empty());
    assert!(d.desk().phrases.contains_key("p1"), "the shop's stays");
}

#[test]
fn r_chat_11_first_response_times_share_within_target_and_percentiles_per_agent() {
    let mut d = Desk::new();
    d.online("a", ServiceRole::Both);
    d.online("b", ServiceRole::Both);
    // Response times 10 s, 20 s, 40 s, 60 s; one left unanswered for 5 minutes.
    for (i, secs) in [10i64, 20, 40, 60].iter().enumerate() {
        let c = format!("c{i}");
        let at = t0() + Duration::minutes(i as i64);
        d.open(&c, Topic::PreSale, at);
        d.buyer(&c, &format!("m{i}"), "转人工", RobotVerdict::NotAsked, at);
        let agent = d.assignee(&c).unwrap();
        d.reply(&c, &agent, &format!("r{i}"), at + Duration::seconds(*secs))
            .unwrap();
        d.ok(Command::Rate {
            conversation_id: c,
            rating: if i < 2 { 5 } else { 2 },
            at,
        });
    }
    d.open("late", Topic::PreSale, t0());
    d.buyer("late", "ml", "转人工", RobotVerdict::NotAsked, t0());
    let now = t0() + Duration::minutes(10);
    let r = report(
        d.desk(),
        Window {
            from: t0(),
            to: t0() + Duration::hours(1),
        },
        now,
    );
    assert_eq!(r.shop.conversations, 5);
    assert_eq!(r.shop.answered, 4);
    assert_eq!(
        r.shop.answered_within_target, 2,
        "10 s and 20 s are within 30 s"
    );
    assert_eq!(r.shop.unreplied, 1);
    assert_eq!(r.shop.within_target_share, Some(2.0 / 5.0));
    assert_eq!(r.shop.first_response_median_ms, Some(20_000));
    assert_eq!(r.shop.first_response_p90_ms, Some(60_000));
    assert_eq!(r.shop.csat_mean, Some(3.5));
    assert_eq!(r.shop.csat_satisfied_share, Some(0.5));
    let per_agent: u32 = r.agents.values().map(|f| f.conversations).sum();
    assert_eq!(per_agent, 5);
    // The window is half-open and the target configurable.
    let none = report(
        d.desk(),
        Window {
            from: now,
            to: now + Duration::hours(1),
        },
        now,
    );
    assert_eq!(none.shop.conversations, 0);
    d.ok(Command::UpdateSettings {
        settings: DeskSettings {
            response_target_secs: 60,
            ..DeskSettings::default()
        },
    });
    let r = report(
        d.desk(),
        Window {
            from: t0(),
            to: t0() + Duration::hours(1),
        },
        now,
    );
    assert_eq!(r.shop.answered_within_target, 4);
}

#[test]
fn refused_commands_cause_nothing_and_errors_name_the_field() {
    let mut d = Desk::new();
    d.open("c1", Topic::PreSale, t0());
    let version = d.desk().version;
    let e = d.when(Command::ReceiveBuyerMessage {
        conversation_id: "c1".into(),
        message_id: "".into(),
        text: "   ".into(),
        attachment: None,
        robot: RobotVerdict::NotAsked,
        at: t0(),
    });
    let Err(DomainError::Invalid(fields)) = e else {
        panic!("{e:?}")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names, ["message_id", "text"]);
    // An account the desk does not have is refused before anything else.
    assert!(matches!(
        d.reply("nope", "a", "r", t0()),
        Err(DomainError::NotFound { kind: "agent", .. })
    ));
    assert_eq!(d.desk().version, version);
    d.agent("a", ServiceRole::Both);
    let version = d.desk().version;
    assert!(matches!(
        d.reply("nope", "a", "r", t0()),
        Err(DomainError::NotFound {
            kind: "conversation",
            ..
        })
    ));
    assert!(matches!(
        d.when(Command::Rate {
            conversation_id: "c1".into(),
            rating: 6,
            at: t0()
        }),
        Err(DomainError::Invalid(_))
    ));
    assert_eq!(d.desk().version, version);
}

#[test]
fn r_chat_4_replaying_the_log_rebuilds_the_same_desk_and_routing_is_deterministic() {
    let run = || {
        let mut d = Desk::new();
        d.ok(Command::UpdateSettings {
            settings: DeskSettings {
                default_agent_capacity: 3,
                ..DeskSettings::default()
            },
        });
        d.online("a", ServiceRole::Both);
        d.online("b", ServiceRole::PreSale);
        for i in 0..12 {
            let c = format!("c{i}");
            let at = t0() + Duration::seconds(i);
            d.open(&c, Topic::PreSale, at);
            d.buyer(&c, &format!("m{i}"), "转人工", RobotVerdict::NotAsked, at);
        }
        d.ok(Command::Close {
            conversation_id: "c0".into(),
            by: "a".into(),
            at: t0() + Duration::minutes(1),
        });
        d.ok(Command::Tick {
            at: t0() + Duration::minutes(5),
        });
        d
    };
    let (one, two) = (run(), run());
    assert_eq!(one.log, two.log, "the same commands route the same way");
    let mut replayed = ChatDesk::default();
    for e in &one.log {
        let json = serde_json::to_string(e).unwrap();
        replayed.apply(&serde_json::from_str::<Event>(&json).unwrap());
    }
    assert_eq!(replayed.version, one.desk().version);
    assert_eq!(replayed.queue, one.desk().queue);
    assert_eq!(replayed.agents, one.desk().agents);
    assert_eq!(replayed.conversations, one.desk().conversations);
    assert_eq!(
        one.desk().queue.len(),
        12 - 6 - 1,
        "6 seats, and closing c0 gave one to the queue"
    );
}

/// Hardening item 10 (R-CHAT-6, R-X-1's idempotency): a message id used again
/// with the same text is a retry (nothing new); with other text it is
/// ALREADY_EXISTS, as every other RPC answers a reused id, instead of OK with
/// the new text dropped. Agents' replies are deduplicated the same way.
#[test]
fn a_reused_message_id_with_other_text_is_already_exists() {
    let mut d = Desk::new();
    d.online("a1", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    d.buyer("c1", "m1", "转人工", no_answer(), t0());
    let version = d.desk().version;
    let retry = d.when(Command::ReceiveBuyerMessage {
        conversation_id: "c1".into(),
        message_id: "m1".into(),
        text: "转人工".into(),
        attachment: None,
        robot: no_answer(),
        at: t0(),
    });
    assert_eq!(retry.unwrap(), vec![]);
    let other = d.when(Command::ReceiveBuyerMessage {
        conversation_id: "c1".into(),
        message_id: "m1".into(),
        text: "another question".into(),
        attachment: None,
        robot: no_answer(),
        at: t0(),
    });
    assert!(
        matches!(
            other,
            Err(DomainError::AlreadyExists {
                kind: "message",
                ..
            })
        ),
        "{other:?}"
    );
    assert_eq!(d.desk().version, version, "nothing was appended");
    assert_eq!(d.assignee("c1").as_deref(), Some("a1"));
    assert!(!d.reply("c1", "a1", "r1", t0()).unwrap().is_empty());
    assert!(
        d.reply("c1", "a1", "r1", t0()).unwrap().is_empty(),
        "a retry"
    );
    let other = d.when(Command::SendAgentReply {
        conversation_id: "c1".into(),
        agent_id: "a1".into(),
        message_id: "r1".into(),
        text: "different".into(),
        attachment: None,
        at: t0(),
    });
    assert!(
        matches!(other, Err(DomainError::AlreadyExists { .. })),
        "{other:?}"
    );
}

/// R-CHAT-14 (issue 18): the buyer files an after-sale request on an order,
/// at most the order's amount (an exchange moves none); only an agent with
/// review_after_sale decides it, with a reason, once; only one with
/// handle_orders sends an order card or marks an address change; the rest
/// is PERMISSION_DENIED naming the permission.
#[test]
fn r_chat_14_after_sale_requests_and_order_actions_need_their_permissions() {
    use chat_svc::domain::{AfterSaleKind, OrderCard};
    let mut d = Desk::new();
    d.online("plain", ServiceRole::Both);
    d.online("reviewer", ServiceRole::Both);
    d.ok(Command::UpdateAgent {
        agent_id: "reviewer".into(),
        name: "REVIEWER".into(),
        role: ServiceRole::Both,
        permissions: Permissions {
            reply: true,
            handle_orders: true,
            review_after_sale: true,
        },
        capacity: None,
    });
    d.open("c1", Topic::AfterSale, t0());
    let file = |request: &str, kind, amount_fen| Command::FileAfterSale {
        conversation_id: "c1".into(),
        request_id: request.into(),
        order_id: "ord-1".into(),
        kind,
        reason: "尺码不合适".into(),
        amount_fen,
        order_amount_fen: 19_900,
        at: t0(),
    };
    let fields = |r: Result<Vec<Event>, DomainError>| match r {
        Err(DomainError::Invalid(f)) => f.into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        fields(d.when(file("r1", AfterSaleKind::RefundOnly, 19_901))),
        ["amount_fen"]
    );
    assert_eq!(
        fields(d.when(file("r1", AfterSaleKind::Exchange, 100))),
        ["amount_fen"]
    );
    d.ok(file("r1", AfterSaleKind::ReturnAndRefund, 19_900));
    assert!(
        d.ok(file("r1", AfterSaleKind::ReturnAndRefund, 19_900))
            .is_empty(),
        "a retry"
    );
    assert!(matches!(
        d.when(file("r2", AfterSaleKind::RefundOnly, 100)),
        Err(DomainError::Precondition {
            reason: "AFTER_SALE_PENDING",
            ..
        })
    ));
    let decide = |agent: &str, approve| Command::DecideAfterSale {
        conversation_id: "c1".into(),
        request_id: "r1".into(),
        agent_id: agent.into(),
        approve,
        reason: "同意退货".into(),
        at: t0(),
    };
    assert!(matches!(
        d.when(decide("plain", true)),
        Err(DomainError::Denied {
            permission: "review_after_sale",
            ..
        })
    ));
    let events = d.ok(decide("reviewer", true));
    assert!(matches!(
        &events[..],
        [Event::AfterSaleDecided { approved: true, .. }]
    ));
    assert!(matches!(
        d.when(decide("reviewer", false)),
        Err(DomainError::Precondition {
            reason: "ALREADY_DECIDED",
            ..
        })
    ));
    // Decided: the order may have a new request.
    d.ok(file("r2", AfterSaleKind::Exchange, 0));
    let card = |agent: &str| Command::SendOrderCard {
        conversation_id: "c1".into(),
        agent_id: agent.into(),
        card: OrderCard {
            order_id: "ord-1".into(),
            title: "春季连衣裙".into(),
            price_fen: 19_900,
            status: "已签收".into(),
        },
        at: t0(),
    };
    assert!(matches!(
        d.when(card("plain")),
        Err(DomainError::Denied {
            permission: "handle_orders",
            ..
        })
    ));
    d.ok(card("reviewer"));
    let address = |agent: &str| Command::MarkAddressChanged {
        conversation_id: "c1".into(),
        agent_id: agent.into(),
        order_id: "ord-1".into(),
        at: t0(),
    };
    assert!(matches!(
        d.when(address("plain")),
        Err(DomainError::Denied { .. })
    ));
    let events = d.ok(address("reviewer"));
    // Every step is an event of the conversation, in the agent's inbox.
    assert!(events[0].concerns_agent("reviewer"));
    assert_eq!(events[0].conversation_id(), Some("c1"));
}

/// Issue 18 item 5: tags (at most 10, idempotent) and private notes
/// (idempotent by id) on a conversation; a note reaches the assignee's and
/// its author's inboxes.
#[test]
fn r_chat_15_tags_and_private_notes_on_a_conversation() {
    use chat_svc::domain::notes::MAX_TAGS;
    let mut d = Desk::new();
    d.online("a1", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    d.buyer("c1", "m1", "转人工", RobotVerdict::NotAsked, t0());
    let tag = |tag: &str, add| Command::TagConversation {
        conversation_id: "c1".into(),
        tag: tag.into(),
        add,
        by: "a1".into(),
        at: t0(),
    };
    d.ok(tag("VIP", true));
    assert!(d.ok(tag(" VIP ", true)).is_empty(), "already tagged");
    assert!(d.ok(tag("退款", false)).is_empty(), "not tagged");
    assert!(matches!(d.when(tag("", true)), Err(DomainError::Invalid(f)) if f[0].0 == "tag"));
    for i in 1..MAX_TAGS {
        d.ok(tag(&format!("t{i}"), true));
    }
    assert!(matches!(
        d.when(tag("one-more", true)),
        Err(DomainError::LimitReached(_))
    ));
    d.ok(tag("t1", false));
    assert!(d.desk().conversation("c1").unwrap().tags.contains("VIP"));
    let note = |id: &str, text: &str| Command::AddNote {
        conversation_id: "c1".into(),
        note_id: id.into(),
        author: "owner:boss".into(),
        text: text.into(),
        at: t0(),
    };
    let events = d.ok(note("n1", "老客户，优先处理"));
    assert!(events[0].concerns_agent("a1"), "the assignee sees it");
    assert!(d.ok(note("n1", "老客户，优先处理")).is_empty(), "a retry");
    assert!(matches!(
        d.when(note("n1", "别的")),
        Err(DomainError::AlreadyExists { .. })
    ));
}

/// Issue 18 item 3: a pre-sale conversation whose buyer writes 退货 moves to
/// after-sale and goes to an after-sale agent, the reason in the assignment.
#[test]
fn r_chat_3_routing_follows_the_topic_the_buyer_asks_about() {
    let mut d = Desk::new();
    d.online("pre", ServiceRole::PreSale);
    d.online("after", ServiceRole::AfterSale);
    d.open("c1", Topic::PreSale, t0());
    let events = d.buyer(
        "c1",
        "m1",
        "收到了，我要退货，转人工",
        RobotVerdict::NotAsked,
        t0(),
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::TopicChanged {
            topic: Topic::AfterSale,
            ..
        }
    )));
    let reason = events
        .iter()
        .find_map(|e| match e {
            Event::ConversationAssigned {
                agent_id,
                topic_reason,
                ..
            } => Some((agent_id.clone(), topic_reason.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason.0, "after");
    assert!(reason.1.contains("退货"), "{}", reason.1);
    assert_eq!(d.desk().conversation("c1").unwrap().topic, Topic::AfterSale);
    // Nothing that names a topic leaves it as it is.
    d.open("c2", Topic::PreSale, t0());
    let events = d.buyer("c2", "m1", "你好，转人工", RobotVerdict::NotAsked, t0());
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::TopicChanged { .. })));
}

/// R-CHAT-7 again (issue 18 item 2): after the first human reply, a later
/// buyer message no human has answered makes the conversation unreplied
/// once more in the figures; the next human reply ends it.
#[test]
fn r_chat_7_a_later_unanswered_buyer_message_makes_it_unreplied_again() {
    let mut d = Desk::new();
    d.online("a", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    d.buyer("c1", "m1", "转人工", RobotVerdict::NotAsked, t0());
    d.reply("c1", "a", "r1", t0() + Duration::seconds(5))
        .unwrap();
    let window = Window {
        from: t0(),
        to: t0() + Duration::hours(1),
    };
    let unreplied = |d: &Desk| {
        report(d.desk(), window, t0() + Duration::minutes(5))
            .shop
            .unreplied
    };
    assert_eq!(unreplied(&d), 0);
    d.buyer(
        "c1",
        "m2",
        "还在吗",
        RobotVerdict::NotAsked,
        t0() + Duration::minutes(1),
    );
    assert_eq!(unreplied(&d), 1, "the later message waits");
    assert!(d
        .desk()
        .conversation("c1")
        .unwrap()
        .unanswered_since
        .is_some());
    d.reply("c1", "a", "r2", t0() + Duration::minutes(2))
        .unwrap();
    assert_eq!(unreplied(&d), 0);
}

fn figures(
    d: &Desk,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> chat_svc::domain::metrics::Report {
    report(d.desk(), Window { from, to }, now)
}

#[test]
fn r_chat_12_every_buyer_message_waiting_for_a_human_has_its_own_clock_outside_hours_excluded() {
    let mut d = Desk::new();
    d.ok(Command::SetServiceHours {
        hours: ServiceHours::workdays_nine_to_six("Asia/Shanghai"),
    });
    d.online("a", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    // The robot settles the first message alone: no clock starts.
    d.buyer("c1", "m1", "几天发货", answered(), t0());
    // The second goes to a human: its clock starts (10:00:10).
    let m2 = t0() + Duration::seconds(10);
    let e = d.buyer("c1", "m2", "转人工", RobotVerdict::NotAsked, m2);
    assert_eq!(assigned(&e).len(), 1);
    // Answered 20 s later: within the 30 s target.
    let e = d
        .reply("c1", "a", "r1", m2 + Duration::seconds(20))
        .unwrap();
    let Event::AgentReplied { answered, .. } = &e[0] else {
        panic!("{e:?}")
    };
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].waited_ms, 20_000);
    // Two later messages, each its own clock; one reply 45 s after the first
    // of them answers both: 45 s (late) and 15 s (in time).
    let m3 = t0() + Duration::minutes(5);
    d.buyer("c1", "m3", "还有一个问题", RobotVerdict::NotAsked, m3);
    d.buyer(
        "c1",
        "m4",
        "在吗",
        RobotVerdict::NotAsked,
        m3 + Duration::seconds(30),
    );
    let e = d
        .reply("c1", "a", "r2", m3 + Duration::seconds(45))
        .unwrap();
    let Event::AgentReplied { answered, .. } = &e[0] else {
        panic!("{e:?}")
    };
    let waits: Vec<i64> = answered.iter().map(|a| a.waited_ms).collect();
    assert_eq!(waits, vec![45_000, 15_000]);
    // A message at 17:59:50 answered at 09:00:15 the next workday: only the
    // 10 s before closing and the 15 s after opening are on the clock.
    let evening = t("2026-03-02T09:59:50Z");
    d.buyer("c1", "m5", "明天能发吗", RobotVerdict::NotAsked, evening);
    let morning = t("2026-03-03T01:00:15Z");
    let e = d.reply("c1", "a", "r3", morning).unwrap();
    let Event::AgentReplied { answered, .. } = &e[0] else {
        panic!("{e:?}")
    };
    assert_eq!(answered[0].waited_ms, 25_000);
    // One still waiting, 40 s inside hours by now: due, and missed.
    d.buyer(
        "c1",
        "m6",
        "好的",
        RobotVerdict::NotAsked,
        morning + Duration::seconds(10),
    );
    let now = morning + Duration::seconds(50);
    let r = figures(&d, t0(), now + Duration::seconds(1), now);
    let shop = &r.shop;
    assert_eq!(shop.messages, 5, "m1 was the robot's alone");
    assert_eq!(shop.messages_answered, 4);
    assert_eq!(shop.messages_answered_within_target, 3);
    assert_eq!(shop.messages_within_target_share, Some(3.0 / 5.0));
    assert_eq!(shop.every_response_median_ms, Some(20_000));
    assert_eq!(shop.every_response_p90_ms, Some(45_000));
    assert_eq!(shop.unreplied, 1, "R-CHAT-7: m6 waits");
    assert_eq!(r.agents["a"].messages_answered, 4);
    // R-CHAT-11: the first response runs from the first buyer message (the
    // robot's reply does not stop it): 30 s, within the target.
    assert_eq!(shop.first_response_median_ms, Some(30_000));
    assert_eq!(shop.within_target_share, Some(1.0));
    // The window is by the message's own time: only m5 and m6 from evening on.
    let late = figures(&d, evening, now + Duration::seconds(1), now);
    assert_eq!((late.shop.messages, late.shop.messages_answered), (2, 1));
    assert_eq!(late.shop.conversations, 0, "the conversation began earlier");
}

#[test]
fn r_chat_12_a_message_unanswered_at_close_keeps_counting_with_its_clock_stopped() {
    let mut d = Desk::new();
    d.online("a", ServiceRole::Both);
    // c1: closed 10 s after a message that waited for a human; c2: closed
    // 40 s after; c3: answered in 20 s.
    for (c, closed_after) in [("c1", 10), ("c2", 40), ("c3", 60)] {
        d.open(c, Topic::PreSale, t0());
        d.buyer(c, &format!("{c}-m"), "转人工", RobotVerdict::NotAsked, t0());
        if c == "c3" {
            d.reply(c, "a", "r", t0() + Duration::seconds(20)).unwrap();
        }
        d.ok(Command::Close {
            conversation_id: c.into(),
            by: "buyer".into(),
            at: t0() + Duration::seconds(closed_after),
        });
    }
    // Read a day later: closing hid nothing, and no clock ran on past its
    // close. c1 was never due (10 s < 30 s); c2 is a miss; c3 in time.
    let now = t0() + Duration::days(1);
    let r = figures(&d, t0(), now, now);
    assert_eq!(r.shop.messages, 3);
    assert_eq!(r.shop.messages_answered, 1);
    assert_eq!(
        r.shop.messages_within_target_share,
        Some(0.5),
        "c3 of c2, c3"
    );
    assert_eq!(
        r.shop.within_target_share,
        Some(0.5),
        "first responses alike"
    );
    assert_eq!(r.agents["a"].messages, 3);
    // While c1 was still open, 31 s in, its message was overdue.
    let mut open = Desk::new();
    open.online("a", ServiceRole::Both);
    open.open("c1", Topic::PreSale, t0());
    open.buyer("c1", "m", "转人工", RobotVerdict::NotAsked, t0());
    let at = t0() + Duration::seconds(31);
    assert_eq!(
        figures(&open, t0(), now, at)
            .shop
            .messages_within_target_share,
        Some(0.0)
    );
}

#[test]
fn r_chat_12_service_hours_count_across_days_zones_and_holidays() {
    let mut hours = ServiceHours::workdays_nine_to_six("Asia/Shanghai");
    // Friday 17:00 to Monday 10:00 Shanghai: 1 h on Friday, 1 h on Monday.
    let friday = t("2026-03-06T09:00:00Z");
    let monday = t("2026-03-09T02:00:00Z");
    assert_eq!(hours.open_millis(friday, monday), 2 * 3_600_000);
    hours
        .holidays
        .push(chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap());
    assert_eq!(hours.open_millis(friday, monday), 3_600_000);
    assert_eq!(hours.open_millis(monday, friday), 0, "backwards is nothing");
    // Never set: always open.
    let always = ServiceHours::default();
    assert_eq!(
        always.open_millis(friday, monday),
        (monday - friday).num_milliseconds()
    );
    // The same hours in Los Angeles count Los Angeles' working day.
    let la = ServiceHours::workdays_nine_to_six("America/Los_Angeles");
    // Monday 2026-03-02 08:00 to 10:00 PST (16:00-18:00Z): one hour open.
    assert_eq!(
        la.open_millis(t("2026-03-02T16:00:00Z"), t("2026-03-02T18:00:00Z")),
        3_600_000
    );
}

#[test]
fn r_chat_13_attachments_read_receipts_and_what_the_buyer_sees() {
    use chat_svc::domain::{Attachment, Reader};
    let mut d = Desk::new();
    d.online("a", ServiceRole::Both);
    d.agent("b", ServiceRole::Both);
    d.open("c1", Topic::PreSale, t0());
    // A picture with no text goes to a human (the robot reads text only).
    let e = d.ok(Command::ReceiveBuyerMessage {
        conversation_id: "c1".into(),
        message_id: "m1".into(),
        text: String::new(),
        attachment: Some(Attachment::Image {
            url: "https://media.example.com/p/1.jpg".into(),
        }),
        robot: RobotVerdict::NotAsked,
        at: t0(),
    });
    assert!(matches!(
        &e[0],
        Event::BuyerMessageReceived {
            waits_for_human: true,
            ..
        }
    ));
    assert_eq!(assigned(&e).len(), 1);
    // The same id with the same picture is a retry; with another, ALREADY_EXISTS.
    let again = |url: &str| Command::ReceiveBuyerMessage {
        conversation_id: "c1".into(),
        message_id: "m1".into(),
        text: String::new(),
        attachment: Some(Attachment::Image { url: url.into() }),
        robot: RobotVerdict::NotAsked,
        at: t0(),
    };
    assert_eq!(
        d.when(again("https://media.example.com/p/1.jpg")).unwrap(),
        vec![]
    );
    assert!(matches!(
        d.when(again("https://media.example.com/p/2.jpg")),
        Err(DomainError::AlreadyExists { .. })
    ));
    // Bad attachments name the request's own fields; nothing changes.
    let version = d.desk().version;
    let bad = d.when(Command::SendAgentReply {
        conversation_id: "c1".into(),
        agent_id: "a".into(),
        message_id: "r1".into(),
        text: String::new(),
        attachment: Some(Attachment::Product {
            product_id: String::new(),
            title: "连衣裙".into(),
            price_fen: -1,
        }),
        at: t0(),
    });
    let Err(DomainError::Invalid(fields)) = bad else {
        panic!("{bad:?}")
    };
    let names: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "attachment.product.product_id",
            "attachment.product.price_fen"
        ]
    );
    let no_text = d.when(Command::SendAgentReply {
        conversation_id: "c1".into(),
        agent_id: "a".into(),
        message_id: "r1".into(),
        text: " ".into(),
        attachment: None,
        at: t0(),
    });
    assert!(matches!(no_text, Err(DomainError::Invalid(f)) if f[0].0 == "text"));
    assert_eq!(d.desk().version, version);
    // Read receipts: forward only, within the log, the agent only for its own.
    let read = |reader: Reader, up_to: i64| Command::MarkRead {
        conversation_id: "c1".into(),
        reader,
        up_to_position: up_to,
        at: t0(),
    };
    let e = d.ok(read(Reader::Buyer, version));
    assert!(e[0].concerns_buyer("c1") && e[0].concerns_agent("a"));
    assert_eq!(
        d.ok(read(Reader::Buyer, version - 1)),
        vec![],
        "older: no-op"
    );
    assert!(matches!(
        d.when(read(Reader::Buyer, version + 100)),
        Err(DomainError::Invalid(f)) if f[0].0 == "up_to_position"
    ));
    assert!(matches!(
        d.when(read(Reader::Agent("b".into()), version)),
        Err(DomainError::Precondition { reason, .. }) if reason == "NOT_ASSIGNED"
    ));
    d.ok(read(Reader::Agent("a".into()), version));
    let c = d.desk().conversation("c1").unwrap();
    assert_eq!((c.buyer_read_up_to, c.agent_read_up_to), (version, version));
    // The buyer's stream: the conversation's lines and notices, never the
    // shop's notes, tags, topics or routing explanations.
    let shown: Vec<&str> = d
        .log
        .iter()
        .filter(|e| e.concerns_buyer("c1"))
        .map(|e| e.type_name())
        .collect();
    assert!(shown.contains(&"BuyerNotified") && shown.contains(&"BuyerMessageReceived"));
    assert!(!shown.contains(&"ConversationAssigned"));
    let note = d.ok(Command::AddNote {
        conversation_id: "c1".into(),
        note_id: "n1".into(),
        author: "a".into(),
        text: "老客户".into(),
        at: t0(),
    });
    assert!(!note[0].concerns_buyer("c1"));
    assert!(
        !d.log[0].concerns_buyer("c2"),
        "another conversation's stream"
    );
}

#[test]
fn r_chat_15_a_message_left_outside_hours_is_routed_at_opening_and_its_clock_starts_then() {
    let mut d = Desk::new();
    d.ok(Command::SetServiceHours {
        hours: ServiceHours::workdays_nine_to_six("Asia/Shanghai"),
    });
    d.agent("a", ServiceRole::Both);
    d.ok(Command::VerifyAgentRealName {
        agent_id: "a".into(),
    });
    // Saturday noon: the buyer asks for a human and is offered to leave a message.
    let saturday = t("2026-03-07T04:00:00Z");
    d.open("c1", Topic::PreSale, saturday);
    let e = d.buyer("c1", "m1", "转人工", RobotVerdict::NotAsked, saturday);
    assert!(e
        .iter()
        .any(|e| matches!(e, Event::BuyerNotified { text, .. } if text.contains("留言"))));
    let leave = |id: &str, at| Command::LeaveMessage {
        conversation_id: "c1".into(),
        message_id: id.into(),
        text: "周一请联系我，想改地址".into(),
        at,
    };
    let e = d.ok(leave("m2", saturday + Duration::minutes(1)));
    let kinds: Vec<&str> = e.iter().map(|e| e.type_name()).collect();
    assert_eq!(
        kinds,
        ["MessageLeft", "BuyerMessageReceived", "BuyerNotified"]
    );
    assert!(
        d.desk().queue.is_empty(),
        "out of the queue, into the left messages"
    );
    assert_eq!(d.desk().left_messages.len(), 1);
    assert_eq!(
        d.ok(leave("m2", saturday + Duration::minutes(1))),
        vec![],
        "a retry"
    );
    // Monday 09:00: no agent online yet, so nothing is routed...
    let monday_nine = t("2026-03-09T01:00:00Z");
    assert!(d.ok(Command::Tick { at: monday_nine }).is_empty());
    // ...until one comes online: then at once.
    let online = monday_nine + Duration::minutes(10);
    let e = d.status("a", AgentStatus::Online, online);
    assert_eq!(assigned(&e).len(), 1);
    assert!(d.desk().left_messages.is_empty());
    // The reply 20 s after pickup is in time: the weekend and the ten
    // minutes without an agent are not on the clock.
    let e = d
        .reply("c1", "a", "r1", online + Duration::seconds(20))
        .unwrap();
    let Event::AgentReplied { answered, .. } = &e[0] else {
        panic!("{e:?}")
    };
    assert_eq!(
        answered.iter().map(|a| a.waited_ms).collect::<Vec<_>>(),
        vec![20_000, 20_000]
    );
    let r = figures(
        &d,
        saturday,
        online + Duration::hours(1),
        online + Duration::minutes(1),
    );
    assert_eq!(r.shop.first_response_median_ms, Some(20_000));
    assert_eq!(r.shop.messages_within_target_share, Some(1.0));
    // Inside hours with room, leaving a message is not offered.
    d.open("c2", Topic::PreSale, online);
    let refused = d.when(Command::LeaveMessage {
        conversation_id: "c2".into(),
        message_id: "x".into(),
        text: "在吗".into(),
        at: online,
    });
    assert!(matches!(
        refused,
        Err(DomainError::Precondition { reason, .. }) if reason == "LEAVE_MESSAGE_NOT_OFFERED"
    ));
}

#[test]
fn r_chat_15_a_full_queue_offers_leaving_a_message_which_waits_beyond_the_queue() {
    let mut d = Desk::new();
    d.ok(Command::UpdateSettings {
        settings: DeskSettings {
            queue_capacity: 1,
            default_agent_capacity: 1,
            ..DeskSettings::default()
        },
    });
    d.online("a", ServiceRole::Both);
    for c in ["c1", "c2", "c3"] {
        d.open(c, Topic::PreSale, t0());
        d.buyer(c, "m1", "转人工", RobotVerdict::NotAsked, t0());
    }
    // c1 has the agent, c2 the queue's one place, c3 nothing: offered.
    let c3 = d.desk().conversation("c3").unwrap();
    assert!(chat_svc::domain::leave::offered(d.desk(), c3, t0()));
    let c2 = d.desk().conversation("c2").unwrap();
    assert!(
        !chat_svc::domain::leave::offered(d.desk(), c2, t0()),
        "c2 is queued"
    );
    d.ok(Command::LeaveMessage {
        conversation_id: "c3".into(),
        message_id: "m2".into(),
        text: "晚点回复也可以".into(),
        at: t0(),
    });
    // A later message of c3 stays with the left message, not the queue.
    let e = d.buyer("c3", "m3", "还在吗", RobotVerdict::NotAsked, t0());
    assert!(e.iter().all(|e| !matches!(
        e,
        Event::HumanRequested { .. } | Event::ConversationQueued { .. }
    )));
    // The queue goes first: closing c1 gives the agent c2, then c3.
    let e = d.ok(Command::Close {
        conversation_id: "c1".into(),
        by: "a".into(),
        at: t0() + Duration::minutes(1),
    });
    assert_eq!(assigned(&e).iter().map(|a| a.0).collect::<Vec<_>>(), ["c2"]);
    let e = d.ok(Command::Close {
        conversation_id: "c2".into(),
        by: "a".into(),
        at: t0() + Duration::minutes(2),
    });
    assert_eq!(assigned(&e).iter().map(|a| a.0).collect::<Vec<_>>(), ["c3"]);
}

/// R-X-4 (issue 15 item 4): a closed conversation stays on the desk for
/// CLOSED_KEPT_DAYS (it may still be rated), then leaves it when time moves
/// on in the log; open conversations never leave, however old.
#[test]
fn r_x_4_a_closed_conversation_leaves_the_desk_a_week_after_closing() {
    let mut d = Desk::new();
    d.online("a1", ServiceRole::Both);
    d.open("old-open", Topic::PreSale, t0());
    d.open("c1", Topic::PreSale, t0());
    d.ok(Command::Close {
        conversation_id: "c1".into(),
        by: "a1".into(),
        at: t0() + Duration::minutes(5),
    });
    let day = |n: i64| t0() + Duration::minutes(5) + Duration::days(n);
    d.open("c2", Topic::PreSale, day(6));
    assert!(d.desk().conversation("c1").is_some(), "kept for the week");
    d.ok(Command::Rate {
        conversation_id: "c1".into(),
        rating: 5,
        at: day(6),
    });
    assert_eq!(d.desk().retired_before, None);
    d.open(
        "c3",
        Topic::PreSale,
        day(chat_svc::domain::CLOSED_KEPT_DAYS) + Duration::seconds(1),
    );
    assert!(d.desk().conversation("c1").is_none(), "gone after the week");
    assert!(
        d.desk().conversation("old-open").is_some(),
        "open ones stay"
    );
    assert!(d.desk().has_retired());
    assert_eq!(
        d.desk().retired_before,
        Some(t0() + Duration::minutes(5) + Duration::seconds(1))
    );
    assert!(matches!(
        d.when(Command::Rate {
            conversation_id: "c1".into(),
            rating: 4,
            at: day(8),
        }),
        Err(DomainError::NotFound { .. })
    ));
}
