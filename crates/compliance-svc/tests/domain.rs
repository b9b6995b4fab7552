//! Given/when/then tests of the pure decider, one per rule (R-CMP-*).

use chrono::{DateTime, Duration, Utc};
use compliance_svc::domain::{
    decide, evolve, initial_state, AppealOutcome, Command, DomainError, Event, PolicyHistory, Shop,
    ShopState, TierChangeReason,
};
use sellerdesk_core::testing;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The shared given/when/then harness over a shop's record, given by the
/// commands that made it (each must succeed).
struct Given(testing::Given<'static, Shop>);

fn given(commands: &[Command]) -> Given {
    let mut g = testing::given_with::<Shop>(PolicyHistory::default(), &[]);
    for c in commands {
        g.when(c).events();
    }
    Given(g)
}

impl Given {
    /// What `c` would do to the record (the record itself does not change).
    fn when(&self, c: Command) -> Result<Vec<Event>, DomainError> {
        decide(&c, &self.0.state, self.0.context())
    }
    fn standing(&self, at: &str) -> (u32, u32, bool) {
        let s = self.0.state.standing(t(at), self.0.context());
        (s.points, s.tier, s.revoked)
    }
}

fn record(id: &str, points: u32, at: &str) -> Command {
    Command::RecordViolation {
        violation_id: id.into(),
        violation_type: String::new(),
        points: Some(points),
        evidence: String::new(),
        at: t(at),
    }
}

fn appeal(id: &str, at: &str) -> Command {
    Command::FileAppeal {
        violation_id: id.into(),
        reason: "we shipped on time".into(),
        attachments: vec!["s3://evidence/1.png".into()],
        at: t(at),
    }
}

fn decide_appeal(id: &str, outcome: AppealOutcome, at: &str) -> Command {
    Command::DecideAppeal {
        violation_id: id.into(),
        outcome: Some(outcome),
        note: String::new(),
        at: t(at),
    }
}

const T0: &str = "2026-01-01T00:00:00Z";

#[test]
fn r_cmp_1_points_must_be_1_to_48() {
    let g = given(&[]);
    for bad in [0, 49] {
        match g.when(record("v", bad, T0)) {
            Err(DomainError::Invalid(fields)) => assert_eq!(fields[0].0, "points"),
            other => panic!("{other:?}"),
        }
    }
    assert!(g.when(record("v", 1, T0)).is_ok());
    assert!(g.when(record("v", 48, T0)).is_ok());
}

#[test]
fn r_cmp_1_policy_maps_a_violation_type_to_points() {
    let g = given(&[]);
    let events = g
        .when(Command::RecordViolation {
            violation_id: "v".into(),
            violation_type: "false_advertising".into(),
            points: None,
            evidence: "ad claims".into(),
            at: t(T0),
        })
        .unwrap();
    assert!(matches!(
        events[0],
        Event::ViolationRecorded { points: 6, .. }
    ));
    let unknown = g.when(Command::RecordViolation {
        violation_id: "v".into(),
        violation_type: "no_such_type".into(),
        points: None,
        evidence: String::new(),
        at: t(T0),
    });
    assert!(matches!(unknown, Err(DomainError::Invalid(_))));
}

#[test]
fn r_cmp_2_r_cmp_11_points_expire_after_exactly_180_days() {
    let g = given(&[record("v1", 12, T0)]);
    assert_eq!(g.standing("2026-06-29T23:59:59.999999Z"), (12, 1, false));
    assert_eq!(g.standing("2026-06-30T00:00:00Z"), (0, 0, false));
}

/// What the scheduler goes by: a shop is due at its standing's next change
/// (a measure's end, its points' expiry), at once when its tier moved
/// unannounced, and never once nothing is left to change.
#[test]
fn r_cmp_2_an_expiry_is_due_when_the_points_expire_and_an_unannounced_tier_at_once() {
    let g = given(&[record("v1", 12, T0)]);
    let state = &g.0.state;
    let due = |s: &ShopState, at: &str| s.announcement_due(&s.standing(t(at), g.0.context()));
    // Tier 1's measure ends after 7 days: a change of standing, not of tier.
    assert_eq!(due(state, T0), Some(t("2026-01-08T00:00:00Z")));
    assert_eq!(
        due(state, "2026-01-09T00:00:00Z"),
        Some(t("2026-06-30T00:00:00Z")),
        "then the points' expiry"
    );
    assert_eq!(
        due(state, "2026-07-05T00:00:00Z"),
        Some(t("2026-07-05T00:00:00Z")),
        "tier 0 by expiry, tier 1 still announced"
    );
    let mut announced = state.clone();
    for e in g
        .when(Command::ObserveTime {
            at: t("2026-07-05T00:00:00Z"),
        })
        .unwrap()
    {
        announced.apply(&e);
    }
    assert_eq!(due(&announced, "2026-07-05T00:00:00Z"), None);
}

#[test]
fn r_cmp_3_reaching_48_revokes_at_once() {
    let g = given(&[
        record("v1", 24, T0),
        record("v2", 12, "2026-02-01T00:00:00Z"),
    ]);
    let events = g.when(record("v3", 12, "2026-03-01T00:00:00Z")).unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SellingRightsRevoked { points: 48, .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::TierChanged { from: 3, to: 4, .. })));
}

#[test]
fn r_cmp_3_expired_points_do_not_count_towards_48() {
    let g = given(&[record("v1", 40, T0)]);
    // v1 expired on 2026-06-30; 8 more points later do not revoke.
    let events = g.when(record("v2", 8, "2026-07-01T00:00:00Z")).unwrap();
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::SellingRightsRevoked { .. })));
}

#[test]
fn r_cmp_4_nothing_expires_while_revoked() {
    let g = given(&[
        record("v1", 30, T0),
        record("v2", 18, "2026-03-01T00:00:00Z"),
    ]);
    assert_eq!(g.standing("2027-12-31T00:00:00Z"), (48, 4, true));
}

#[test]
fn r_cmp_5_tiers_follow_the_total_and_apply_measures() {
    let g = given(&[record("v1", 12, T0)]);
    let s = g.0.state.standing(t(T0), g.0.context());
    assert_eq!(s.tier, 1);
    let codes: Vec<_> = s
        .measures
        .iter()
        .map(|m| m.applied.measure.code.as_str())
        .collect();
    assert_eq!(codes, ["warning", "restrict_marketing"]);
    // The 7-day measure ends by itself; the warning lasts while tier 1 holds.
    let later = g.0.state.standing(t("2026-01-08T00:00:00Z"), g.0.context());
    assert_eq!(later.measures.len(), 1);
    // Jumping two tiers at once applies both tiers' measures.
    let events = given(&[]).when(record("v", 30, T0)).unwrap();
    match &events[1] {
        Event::TierChanged {
            from: 0,
            to: 2,
            measures_applied,
            reason: TierChangeReason::Violation,
            ..
        } => {
            assert_eq!(measures_applied.len(), 4)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn r_cmp_6_appeals_name_a_violation_of_this_shop() {
    let g = given(&[record("v1", 6, T0)]);
    assert!(matches!(
        g.when(appeal("other", T0)),
        Err(DomainError::ViolationNotFound(_))
    ));
}

#[test]
fn r_cmp_7_first_appeal_within_30_days_half_open() {
    let g = given(&[record("v1", 6, T0)]);
    assert!(g.when(appeal("v1", "2026-01-30T23:59:59Z")).is_ok());
    assert!(matches!(
        g.when(appeal("v1", "2026-01-31T00:00:00Z")),
        Err(DomainError::FirstAppealWindowClosed { .. })
    ));
}

#[test]
fn r_cmp_7_one_pending_at_a_time() {
    let g = given(&[record("v1", 6, T0), appeal("v1", "2026-01-02T00:00:00Z")]);
    assert!(matches!(
        g.when(appeal("v1", "2026-01-03T00:00:00Z")),
        Err(DomainError::AppealPending(_))
    ));
}

#[test]
fn r_cmp_7_second_appeal_only_after_rejection_within_15_days() {
    let rejected = given(&[
        record("v1", 6, T0),
        appeal("v1", "2026-01-02T00:00:00Z"),
        decide_appeal("v1", AppealOutcome::Rejected, "2026-01-10T00:00:00Z"),
    ]);
    // 15 days after the rejection, not after the violation: past the 30-day first window is fine.
    assert!(rejected.when(appeal("v1", "2026-01-24T23:59:59Z")).is_ok());
    assert!(matches!(
        rejected.when(appeal("v1", "2026-01-25T00:00:00Z")),
        Err(DomainError::SecondAppealWindowClosed { .. })
    ));
}

#[test]
fn r_cmp_7_the_second_decision_is_final() {
    let g = given(&[
        record("v1", 6, T0),
        appeal("v1", "2026-01-02T00:00:00Z"),
        decide_appeal("v1", AppealOutcome::Rejected, "2026-01-03T00:00:00Z"),
        appeal("v1", "2026-01-04T00:00:00Z"),
        decide_appeal("v1", AppealOutcome::Rejected, "2026-01-05T00:00:00Z"),
    ]);
    assert!(matches!(
        g.when(appeal("v1", "2026-01-06T00:00:00Z")),
        Err(DomainError::NoAppealsLeft(_))
    ));
}

#[test]
fn r_cmp_8_granted_appeal_removes_points_and_cancels_its_penalties() {
    let mut g = given(&[
        record("v1", 6, T0),
        record("v2", 12, "2026-01-02T00:00:00Z"),
        appeal("v2", "2026-01-03T00:00:00Z"),
    ]);
    let measures = |g: &Given, at: &str| g.0.state.standing(t(at), g.0.context()).measures;
    assert_eq!(measures(&g, "2026-01-03T00:00:00Z").len(), 2);
    let events =
        g.0.when(&decide_appeal(
            "v2",
            AppealOutcome::Granted,
            "2026-01-04T00:00:00Z",
        ))
        .events();
    let s = g.0.state.standing(t("2026-01-04T00:00:00Z"), g.0.context());
    assert_eq!((s.points, s.tier), (6, 0));
    assert!(
        s.measures.is_empty(),
        "the measures v2 caused are cancelled"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::TierChanged {
            from: 1,
            to: 0,
            reason: TierChangeReason::Appeal,
            ..
        }
    )));
    // After a grant nothing more can be appealed.
    let refused =
        g.0.when(&appeal("v2", "2026-01-05T00:00:00Z"))
            .then_refused("ALREADY_OVERTURNED");
    assert!(matches!(refused, DomainError::AlreadyOverturned(_)));
}

#[test]
fn r_cmp_8_restoration_expires_overdue_points_at_once() {
    let g = given(&[
        record("v1", 30, T0),
        record("v2", 18, "2026-06-20T00:00:00Z"),
        appeal("v2", "2026-07-10T00:00:00Z"),
    ]);
    let events = g
        .when(decide_appeal(
            "v2",
            AppealOutcome::Granted,
            "2026-07-20T00:00:00Z",
        ))
        .unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SellingRightsRestored { points: 0, .. })));
}

#[test]
fn r_cmp_8_rights_stay_revoked_while_the_total_is_still_48() {
    let g = given(&[
        record("v1", 48, T0),
        record("v2", 6, "2026-01-02T00:00:00Z"),
        appeal("v2", "2026-01-03T00:00:00Z"),
    ]);
    let events = g
        .when(decide_appeal(
            "v2",
            AppealOutcome::Granted,
            "2026-01-04T00:00:00Z",
        ))
        .unwrap();
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::SellingRightsRestored { .. })));
}

#[test]
fn r_cmp_12_decision_without_pending_appeal_fails() {
    let g = given(&[record("v1", 6, T0)]);
    assert!(matches!(
        g.when(decide_appeal("v1", AppealOutcome::Granted, T0)),
        Err(DomainError::NoPendingAppeal(_))
    ));
    assert!(matches!(
        g.when(decide_appeal("nope", AppealOutcome::Granted, T0)),
        Err(DomainError::ViolationNotFound(_))
    ));
}

#[test]
fn r_cmp_12_same_id_same_content_is_idempotent_other_content_conflicts() {
    let g = given(&[record("v1", 5, T0)]);
    assert_eq!(
        g.when(record("v1", 5, "2026-01-02T00:00:00Z")).unwrap(),
        vec![]
    );
    assert!(matches!(
        g.when(record("v1", 6, T0)),
        Err(DomainError::ViolationConflict(_))
    ));
}

#[test]
fn r_cmp_11_same_instant_expiry_happens_before_the_new_violation() {
    // v1 expires at the very instant v2 is recorded: 40 + 8 is not 48 then.
    let g = given(&[record("v1", 40, T0)]);
    let at = (t(T0) + Duration::hours(180 * 24)).to_rfc3339();
    let events = g.when(record("v2", 8, &at)).unwrap();
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::SellingRightsRevoked { .. })));
}

#[test]
fn expiry_is_announced_once_by_observing_time() {
    let g = given(&[record("v1", 12, T0)]);
    let events = g
        .when(Command::ObserveTime {
            at: t("2026-07-15T00:00:00Z"),
        })
        .unwrap();
    match &events[..] {
        [Event::TierChanged {
            from: 1,
            to: 0,
            reason: TierChangeReason::Expiry,
            effective_at,
            ..
        }] => {
            assert_eq!(*effective_at, t("2026-06-30T00:00:00Z"))
        }
        other => panic!("{other:?}"),
    }
    let mut state = g.0.state.clone();
    state = evolve(state, &events[0]);
    let again = decide(
        &Command::ObserveTime {
            at: t("2026-07-16T00:00:00Z"),
        },
        &state,
        g.0.context(),
    )
    .unwrap();
    assert!(again.is_empty());
}

/// A state cloned for a decision that was then discarded (a version
/// conflict) shares the violation index with the state that goes on: ids the
/// fork recorded, at seqs the survivor fills differently, must not confuse
/// lookups on either (R-CMP-6: an appeal names a violation of this shop).
#[test]
fn r_cmp_6_a_discarded_fork_does_not_confuse_violation_lookups() {
    let g = given(&[record("a", 2, "2026-01-01T00:00:00Z")]);
    let recorded = |id: &str, at: &str| Event::ViolationRecorded {
        violation_id: id.into(),
        violation_type: "t".into(),
        points: 1,
        evidence: String::new(),
        recorded_at: t(at),
    };
    let mut fork = g.0.state.clone();
    fork.apply(&recorded("x", "2026-01-02T00:00:00Z"));
    let mut survivor = g.0.state.clone();
    survivor.apply(&recorded("y", "2026-01-02T00:00:00Z"));
    survivor.apply(&recorded("x", "2026-01-03T00:00:00Z"));
    let seq = |s: &ShopState, id: &str| s.violation(id).map(|v| (v.id.to_string(), v.seq));
    assert_eq!(seq(&survivor, "x"), Some(("x".into(), 2)));
    assert_eq!(seq(&survivor, "y"), Some(("y".into(), 1)));
    assert_eq!(seq(&fork, "x"), Some(("x".into(), 1)));
    assert_eq!(seq(&fork, "y"), None);
    assert_eq!(seq(&g.0.state, "x"), None);
    let mut g2 = g;
    g2.0.state = survivor;
    assert!(g2.when(appeal("x", "2026-01-04T00:00:00Z")).is_ok());
}

/// Lookups reach past the newest records through the lazily built index,
/// on the state that built it, on clones taken before and after, and on a
/// discarded fork whose own records sit at the same seqs (R-CMP-6).
#[test]
fn r_cmp_6_old_violations_are_found_in_long_histories_and_across_forks() {
    let recorded = |id: String, hours: i64| Event::ViolationRecorded {
        violation_id: id,
        violation_type: if hours % 3 == 0 { "a" } else { "b" }.into(),
        points: 1,
        evidence: String::new(),
        recorded_at: t("2026-01-01T00:00:00Z") + Duration::minutes(hours),
    };
    let mut survivor = initial_state();
    for i in 0..150 {
        survivor.apply(&recorded(format!("v{i}"), i));
    }
    let before = survivor.clone();
    let mut fork = survivor.clone();
    for i in 150..300 {
        fork.apply(&recorded(format!("fork-{i}"), i));
        survivor.apply(&recorded(format!("v{i}"), i));
    }
    fork.apply(&recorded("v299".into(), 300));
    let seq = |s: &ShopState, id: &str| s.violation(id).map(|v| v.seq);
    for i in [0u64, 1, 63, 64, 149, 150, 235, 299] {
        assert_eq!(seq(&survivor, &format!("v{i}")), Some(i), "v{i}");
    }
    assert_eq!(seq(&before, "v10"), Some(10));
    assert_eq!(seq(&before, "v200"), None);
    assert_eq!(seq(&fork, "fork-150"), Some(150));
    assert_eq!(seq(&fork, "v299"), Some(300));
    assert_eq!(seq(&fork, "v200"), None);
    assert_eq!(seq(&survivor, "fork-150"), None);
    let after = survivor.clone();
    assert_eq!(seq(&after, "v5"), Some(5));
    assert_eq!(seq(&after, "nope"), None);
    assert_eq!(
        survivor
            .violation("v42")
            .map(|v| v.violation_type.to_string()),
        Some("a".into())
    );
}

fn policy_with_measure_days(days: u32) -> compliance_svc::domain::Policy {
    let mut policy = compliance_svc::domain::Policy::default_policy();
    policy.effective_at = t("2026-02-01T00:00:00Z");
    policy.tiers[0].measures[0].duration_days = days;
    policy
}

fn publish(
    policy: compliance_svc::domain::Policy,
    at: &str,
    history: &PolicyHistory,
) -> Result<compliance_svc::domain::PolicyPublished, DomainError> {
    compliance_svc::domain::decide_policy(
        &compliance_svc::domain::PublishPolicy { policy, at: t(at) },
        history,
    )
}

/// Hardening item 4 (R-CMP-5): a measure of 4,294,967,295 days, an
/// effective time in year 10000, are refused at publication, naming the field.
#[test]
fn r_cmp_5_policies_with_unbounded_durations_or_far_effective_times_are_refused() {
    let history = PolicyHistory::default();
    match publish(policy_with_measure_days(u32::MAX), T0, &history) {
        Err(DomainError::Invalid(fields)) => {
            assert_eq!(fields[0].0, "policy.tiers.measures.duration_days")
        }
        other => panic!("{other:?}"),
    }
    let mut far = policy_with_measure_days(7);
    far.effective_at = t("9999-12-31T00:00:00Z");
    match publish(far, T0, &history) {
        Err(DomainError::Invalid(fields)) => assert_eq!(fields[0].0, "policy.effective_at"),
        other => panic!("{other:?}"),
    }
    let mut unordered = policy_with_measure_days(7);
    unordered.tiers[1].threshold_points = 5;
    assert!(matches!(
        publish(unordered, T0, &history),
        Err(DomainError::Invalid(_))
    ));
    let mut huge = policy_with_measure_days(7);
    huge.tiers[0].measures[0].description = "长".repeat(10_000);
    assert!(matches!(
        publish(huge, T0, &history),
        Err(DomainError::Invalid(_))
    ));
    assert!(publish(
        policy_with_measure_days(compliance_svc::domain::policy::MAX_MEASURE_DAYS),
        T0,
        &history
    )
    .is_ok());
}

/// Hardening item 4 (R-CMP-5): a policy that an older build accepted, with a
/// measure far past chrono's range, is in some logs already; recording a
/// violation that reaches its tier must not panic, and still revokes at 48.
#[test]
fn r_cmp_5_a_stored_policy_with_an_absurd_duration_never_panics_enforcement() {
    let mut policies = PolicyHistory::default();
    policies.apply(&compliance_svc::domain::PolicyPublished {
        policy: policy_with_measure_days(u32::MAX),
    });
    let mut state = initial_state();
    for (i, points) in [12, 12, 12, 12].into_iter().enumerate() {
        let c = record(&format!("v{i}"), points, "2026-03-01T00:00:00Z");
        for e in decide(&c, &state, &policies).unwrap() {
            state = evolve(state, &e);
        }
    }
    let s = state.standing(t("2026-03-02T00:00:00Z"), &policies);
    assert_eq!((s.points, s.revoked), (48, true));
}

/// R-CMP-13 (issue 19): the policy, not a constant, says at how many points
/// rights go. A policy whose deactivating tier sits at 40 revokes at 40, and
/// a granted appeal that brings the total under 40 restores.
#[test]
fn r_cmp_13_the_policys_deactivating_tier_decides_revocation() {
    let mut moved = compliance_svc::domain::Policy::default_policy();
    moved.version = 2;
    moved.effective_at = t("2026-02-01T00:00:00Z");
    for (tier, points) in moved.tiers.iter_mut().zip([10, 20, 30, 40]) {
        tier.threshold_points = points;
    }
    assert_eq!(moved.revocation_points(), Some(40));
    let mut policies = PolicyHistory::default();
    policies.apply(&compliance_svc::domain::PolicyPublished { policy: moved });
    let mut state = initial_state();
    let run = |c: Command, state: &mut compliance_svc::domain::ShopState| {
        let events = decide(&c, state, &policies).unwrap();
        for e in &events {
            *state = evolve(std::mem::take(state), e);
        }
        events
    };
    for i in 0..3 {
        let e = run(
            record(&format!("v{i}"), 10, "2026-03-01T00:00:00Z"),
            &mut state,
        );
        assert!(!e
            .iter()
            .any(|e| matches!(e, Event::SellingRightsRevoked { .. })));
    }
    let e = run(record("v3", 10, "2026-03-01T01:00:00Z"), &mut state);
    assert!(
        e.iter()
            .any(|e| matches!(e, Event::SellingRightsRevoked { points: 40, .. })),
        "{e:?}"
    );
    let s = state.standing(t("2026-03-02T00:00:00Z"), &policies);
    assert_eq!((s.points, s.revoked), (40, true));
    run(
        Command::FileAppeal {
            violation_id: "v3".into(),
            reason: "误判".into(),
            attachments: vec![],
            at: t("2026-03-02T00:00:00Z"),
        },
        &mut state,
    );
    let e = run(
        Command::DecideAppeal {
            violation_id: "v3".into(),
            outcome: Some(AppealOutcome::Granted),
            note: "成立".into(),
            at: t("2026-03-03T00:00:00Z"),
        },
        &mut state,
    );
    assert!(
        e.iter()
            .any(|e| matches!(e, Event::SellingRightsRestored { points: 30, .. })),
        "{e:?}"
    );
    let s = state.standing(t("2026-03-04T00:00:00Z"), &policies);
    assert_eq!((s.points, s.revoked), (30, false));
    // The default policy still revokes at 48 (R-CMP-3).
    assert_eq!(
        PolicyHistory::default().latest().revocation_points(),
        Some(48)
    );
}

/// A copy of the default policy taking effect at `at`, with the tiers at
/// these thresholds.
fn thresholds_from(at: &str, points: [u32; 4]) -> compliance_svc::domain::PolicyPublished {
    let mut policy = compliance_svc::domain::Policy::default_policy();
    policy.version = 2;
    policy.effective_at = t(at);
    for (tier, points) in policy.tiers.iter_mut().zip(points) {
        tier.threshold_points = points;
    }
    compliance_svc::domain::PolicyPublished { policy }
}

/// R-CMP-5, R-CMP-13: a published policy with lower thresholds raises the
/// tier of a shop that does nothing at the moment it takes effect. Time
/// alone announces it, named for the policy, at that moment, with the
/// raised tier's measures; the standing says beforehand that it will
/// change then. Points that expire later are still named for expiry.
#[test]
fn r_cmp_5_a_policy_taking_effect_moves_the_tier_and_is_announced_for_it() {
    let mut policies = PolicyHistory::default();
    policies.apply(&thresholds_from("2026-03-01T00:00:00Z", [10, 20, 30, 40]));
    let mut state = initial_state();
    let run = |c: Command, state: &mut ShopState| {
        let events = decide(&c, state, &policies).unwrap();
        for e in &events {
            *state = evolve(std::mem::take(state), e);
        }
        events
    };
    assert!(run(record("v1", 10, "2026-02-01T00:00:00Z"), &mut state).len() == 1);
    let before = state.standing(t("2026-02-15T00:00:00Z"), &policies);
    assert_eq!(before.tier, 0, "10 points are under the default's 12");
    assert_eq!(
        before.next_change_at,
        Some(t("2026-03-01T00:00:00Z")),
        "the policy moves the tier before the points expire"
    );
    let observe = |at: &str| Command::ObserveTime { at: t(at) };
    assert!(run(observe("2026-02-28T23:59:59Z"), &mut state).is_empty());

    let events = run(observe("2026-03-01T00:00:07Z"), &mut state);
    match &events[..] {
        [Event::TierChanged {
            from: 0,
            to: 1,
            points: 10,
            reason: TierChangeReason::Policy,
            effective_at,
            caused_by: None,
            measures_applied,
        }] => {
            assert_eq!(*effective_at, t("2026-03-01T00:00:00Z"));
            let codes: Vec<_> = measures_applied
                .iter()
                .map(|m| (m.tier, m.measure.code.as_str(), m.started_at))
                .collect();
            assert_eq!(
                codes,
                [
                    (1, "warning", t("2026-03-01T00:00:00Z")),
                    (1, "restrict_marketing", t("2026-03-01T00:00:00Z"))
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    let now = state.standing(t("2026-03-02T00:00:00Z"), &policies);
    assert!(now
        .measures
        .iter()
        .any(|m| m.applied.measure.code == "restrict_marketing"));
    assert!(run(observe("2026-03-02T00:00:00Z"), &mut state).is_empty());

    // 180 days after 1 February the points go, and expiry is named.
    let events = run(observe("2026-08-15T00:00:00Z"), &mut state);
    match &events[..] {
        [Event::TierChanged {
            from: 1,
            to: 0,
            reason: TierChangeReason::Expiry,
            effective_at,
            measures_applied,
            ..
        }] => {
            assert_eq!(*effective_at, t("2026-07-31T00:00:00Z"));
            assert!(measures_applied.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

/// R-CMP-5: a policy with higher thresholds lowers a tier, and applies
/// nothing; one that leaves this shop's tier where it is is no change for
/// it, so the next change stays its points' expiry.
#[test]
fn r_cmp_5_a_policy_lowers_a_tier_and_one_that_moves_nothing_is_not_a_change() {
    let mut raised = PolicyHistory::default();
    raised.apply(&thresholds_from("2026-03-01T00:00:00Z", [15, 30, 45, 60]));
    let g = testing::given_with::<Shop>(raised.clone(), &[]);
    let mut state = g.state.clone();
    for e in decide(&record("v1", 12, "2026-02-01T00:00:00Z"), &state, &raised).unwrap() {
        state = evolve(state, &e);
    }
    assert_eq!(state.standing(t("2026-02-02T00:00:00Z"), &raised).tier, 1);
    let events = decide(
        &Command::ObserveTime {
            at: t("2026-03-05T00:00:00Z"),
        },
        &state,
        &raised,
    )
    .unwrap();
    assert!(
        matches!(
            &events[..],
            [Event::TierChanged { from: 1, to: 0, reason: TierChangeReason::Policy, measures_applied, .. }]
                if measures_applied.is_empty()
        ),
        "{events:?}"
    );

    let mut same = PolicyHistory::default();
    same.apply(&thresholds_from("2026-03-01T00:00:00Z", [11, 24, 36, 48]));
    let mut state = initial_state();
    for e in decide(&record("v1", 5, "2026-02-01T00:00:00Z"), &state, &same).unwrap() {
        state = evolve(state, &e);
    }
    let s = state.standing(t("2026-02-02T00:00:00Z"), &same);
    assert_eq!(s.next_change_at, Some(t("2026-07-31T00:00:00Z")));
}

/// R-CMP-3 over R-CMP-5: a policy that puts the deactivating tier at or
/// under a shop's total raises the tier with its other measures, but rights
/// go only when a new violation reaches it, never by time alone.
#[test]
fn r_cmp_3_a_policy_alone_never_revokes_rights() {
    let mut policies = PolicyHistory::default();
    policies.apply(&thresholds_from("2026-03-01T00:00:00Z", [3, 6, 9, 12]));
    let mut state = initial_state();
    for e in decide(&record("v1", 12, "2026-02-01T00:00:00Z"), &state, &policies).unwrap() {
        state = evolve(state, &e);
    }
    let events = decide(
        &Command::ObserveTime {
            at: t("2026-03-01T00:00:00Z"),
        },
        &state,
        &policies,
    )
    .unwrap();
    let [Event::TierChanged {
        from: 1,
        to: 4,
        measures_applied,
        ..
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    let tiers: std::collections::BTreeSet<u32> = measures_applied.iter().map(|m| m.tier).collect();
    assert_eq!(
        tiers,
        [2, 3].into(),
        "tiers 2 and 3; tier 4 only deactivates"
    );
    assert!(measures_applied
        .iter()
        .all(|m| m.measure.code != compliance_svc::domain::policy::DEACTIVATE));
    state = evolve(state, &events[0]);
    assert!(!state.standing(t("2026-03-02T00:00:00Z"), &policies).revoked);
    let next = decide(&record("v2", 1, "2026-03-02T00:00:00Z"), &state, &policies).unwrap();
    assert!(
        next.iter()
            .any(|e| matches!(e, Event::SellingRightsRevoked { points: 13, .. })),
        "{next:?}"
    );
}
