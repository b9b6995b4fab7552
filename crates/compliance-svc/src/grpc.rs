//! The public API (`sellerdesk.compliance.v1`) mapped onto [`Compliance`].
//! Permissions live here, through the runtime's [`Caller`]: the platform
//! records and decides, owners and admins appeal, agents only read (R-X-1 for all).

use crate::{
    app::Compliance,
    domain::{
        events::AppealOutcome as DomainOutcome,
        state::{DeadlineAt, MeasureRecord, StatusAt, ViolationView},
        Command, Instant, Measure, Policy, Standing, Tier,
    },
};
use futures::Stream;
use sellerdesk_api::compliance::v1 as pb;
use sellerdesk_runtime::page::{self, Cursor, Page};
use sellerdesk_runtime::{errors, Caller, Role};
use std::{pin::Pin, sync::Arc};
use tonic::{Request, Response, Status};

const SHOP_ROLES_READ: &[Role] = &[Role::Owner, Role::Admin, Role::Agent, Role::Platform];
/// A watcher re-reads at least this often when nothing woke it before.
const MAX_WATCH_SLEEP: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct ComplianceApi {
    app: Arc<Compliance>,
}

impl ComplianceApi {
    pub fn new(app: Arc<Compliance>) -> Self {
        Self { app }
    }
}

use sellerdesk_runtime::wire::{
    authorize, command_metadata as metadata, instant, timestamp as ts, StreamBounds,
};

use sellerdesk_runtime::errors::to_status;

fn measure_pb(m: &MeasureRecord) -> pb::MeasureInForce {
    pb::MeasureInForce {
        code: m.applied.measure.code.clone(),
        description: m.applied.measure.description.clone(),
        tier: m.applied.tier,
        started_at: Some(ts(m.applied.started_at)),
        ends_at: m.applied.ends_at.map(ts),
        caused_by_violation_id: m.caused_by.clone().unwrap_or_default(),
    }
}

pub fn standing_pb(shop: &str, s: &Standing) -> pb::Standing {
    pb::Standing {
        shop_id: shop.to_owned(),
        as_of: Some(ts(s.as_of)),
        points: s.points,
        tier: s.tier,
        revoked: s.revoked,
        revoked_at: s.revoked_at.map(ts),
        measures: s.measures.iter().map(measure_pb).collect(),
        policy_version: s.policy_version,
        next_change_at: s.next_change_at.map(ts),
    }
}

fn violation_pb(v: &ViolationView) -> pb::Violation {
    let r = &v.record;
    pb::Violation {
        violation_id: r.id.to_string(),
        violation_type: r.violation_type.to_string(),
        points: r.points,
        evidence: r.evidence.clone(),
        recorded_at: Some(ts(r.recorded_at)),
        expires_at: Some(ts(r.expires_at)),
        status: match v.status {
            StatusAt::Active => pb::ViolationStatus::Active,
            StatusAt::Expired => pb::ViolationStatus::Expired,
            StatusAt::Overturned => pb::ViolationStatus::Overturned,
            StatusAt::Frozen => pb::ViolationStatus::Frozen,
        } as i32,
        appeals: r
            .appeals
            .iter()
            .map(|a| pb::Appeal {
                number: a.number,
                state: match a.decision.as_ref().map(|d| d.outcome) {
                    None => pb::AppealState::Pending,
                    Some(DomainOutcome::Granted) => pb::AppealState::Granted,
                    Some(DomainOutcome::Rejected) => pb::AppealState::Rejected,
                } as i32,
                filed_at: Some(ts(a.filed_at)),
                reason: a.reason.clone(),
                attachments: a.attachments.clone(),
                decided_at: a.decision.as_ref().map(|d| ts(d.at)),
                decision_note: a
                    .decision
                    .as_ref()
                    .map(|d| d.note.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        next_deadline: v.next_deadline.map(|d| match d {
            DeadlineAt::FirstAppeal(at) => pb::Deadline {
                kind: pb::DeadlineKind::FirstAppeal as i32,
                at: Some(ts(at)),
            },
            DeadlineAt::SecondAppeal(at) => pb::Deadline {
                kind: pb::DeadlineKind::SecondAppeal as i32,
                at: Some(ts(at)),
            },
            DeadlineAt::Expiry(at) => pb::Deadline {
                kind: pb::DeadlineKind::Expiry as i32,
                at: Some(ts(at)),
            },
            DeadlineAt::AwaitingDecision => pb::Deadline {
                kind: pb::DeadlineKind::AwaitingDecision as i32,
                at: None,
            },
        }),
    }
}

fn policy_pb(p: &Policy) -> pb::Policy {
    pb::Policy {
        version: p.version,
        effective_at: Some(ts(p.effective_at)),
        tiers: p
            .tiers
            .iter()
            .map(|t| pb::Tier {
                level: t.level,
                threshold_points: t.threshold_points,
                measures: t
                    .measures
                    .iter()
                    .map(|m| pb::Measure {
                        code: m.code.clone(),
                        description: m.description.clone(),
                        duration_days: m.duration_days,
                    })
                    .collect(),
            })
            .collect(),
        violation_types: p
            .violation_types
            .iter()
            .map(|(k, v)| pb::ViolationTypePoints {
                violation_type: k.clone(),
                points: *v,
            })
            .collect(),
    }
}

fn policy_from_pb(p: pb::Policy) -> Result<Policy, Status> {
    let effective_at = p
        .effective_at
        .as_ref()
        .ok_or_else(|| errors::invalid_argument(&[("policy.effective_at", "required".into())]))
        .and_then(|t| instant(t, "policy.effective_at"))?;
    Ok(Policy {
        version: 0,
        effective_at,
        tiers: p
            .tiers
            .into_iter()
            .map(|t| Tier {
                level: t.level,
                threshold_points: t.threshold_points,
                measures: t
                    .measures
                    .into_iter()
                    .map(|m| Measure {
                        code: m.code,
                        description: m.description,
                        duration_days: m.duration_days,
                    })
                    .collect(),
            })
            .collect(),
        violation_types: p
            .violation_types
            .into_iter()
            .map(|v| (v.violation_type, v.points))
            .collect(),
    })
}

fn optional_instant(
    t: &Option<prost_types::Timestamp>,
    field: &str,
) -> Result<Option<Instant>, Status> {
    t.as_ref().map(|t| instant(t, field)).transpose()
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchStandingResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::compliance_service_server::ComplianceService for ComplianceApi {
    async fn record_violation(
        &self,
        request: Request<pb::RecordViolationRequest>,
    ) -> Result<Response<pb::RecordViolationResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            &[Role::Platform],
            "recording a violation",
        )?;
        tracing::Span::current().record("shop_id", shop.as_str());
        let r = request.into_inner();
        let outcome = self
            .app
            .execute(&shop, metadata(&caller), |at| Command::RecordViolation {
                violation_id: r.violation_id.clone(),
                violation_type: r.violation_type.to_string(),
                points: r.points,
                evidence: r.evidence.clone(),
                at,
            })
            .await
            .map_err(to_status)?;
        let record = outcome
            .state
            .violation(&r.violation_id)
            .expect("just recorded");
        let standing = outcome.state.standing(outcome.at, &self.app.policies());
        Ok(Response::new(pb::RecordViolationResponse {
            violation: Some(violation_pb(&outcome.state.view(record, outcome.at))),
            standing: Some(standing_pb(&shop, &standing)),
            created: !outcome.events.is_empty(),
        }))
    }

    async fn file_appeal(
        &self,
        request: Request<pb::FileAppealRequest>,
    ) -> Result<Response<pb::FileAppealResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            &[Role::Owner, Role::Admin],
            "filing an appeal",
        )?;
        let r = request.into_inner();
        let outcome = self
            .app
            .execute(&shop, metadata(&caller), |at| Command::FileAppeal {
                violation_id: r.violation_id.clone(),
                reason: r.reason.clone(),
                attachments: r.attachments.clone(),
                at,
            })
            .await
            .map_err(to_status)?;
        let record = outcome
            .state
            .violation(&r.violation_id)
            .expect("appealed violation exists");
        Ok(Response::new(pb::FileAppealResponse {
            violation: Some(violation_pb(&outcome.state.view(record, outcome.at))),
        }))
    }

    async fn decide_appeal(
        &self,
        request: Request<pb::DecideAppealRequest>,
    ) -> Result<Response<pb::DecideAppealResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            &[Role::Platform],
            "deciding an appeal",
        )?;
        let r = request.into_inner();
        let outcome_in = match pb::AppealOutcome::try_from(r.outcome) {
            Ok(pb::AppealOutcome::Granted) => Some(DomainOutcome::Granted),
            Ok(pb::AppealOutcome::Rejected) => Some(DomainOutcome::Rejected),
            _ => None,
        };
        let outcome = self
            .app
            .execute(&shop, metadata(&caller), |at| Command::DecideAppeal {
                violation_id: r.violation_id.clone(),
                outcome: outcome_in,
                note: r.note.clone(),
                at,
            })
            .await
            .map_err(to_status)?;
        let record = outcome
            .state
            .violation(&r.violation_id)
            .expect("decided violation exists");
        let standing = outcome.state.standing(outcome.at, &self.app.policies());
        Ok(Response::new(pb::DecideAppealResponse {
            violation: Some(violation_pb(&outcome.state.view(record, outcome.at))),
            standing: Some(standing_pb(&shop, &standing)),
        }))
    }

    async fn get_standing(
        &self,
        request: Request<pb::GetStandingRequest>,
    ) -> Result<Response<pb::GetStandingResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            SHOP_ROLES_READ,
            "reading the standing",
        )?;
        let as_of = optional_instant(&request.get_ref().as_of, "as_of")?;
        let standing = self.app.standing(&shop, as_of).await.map_err(to_status)?;
        Ok(Response::new(pb::GetStandingResponse {
            standing: Some(standing_pb(&shop, &standing)),
        }))
    }

    async fn get_health_page(
        &self,
        request: Request<pb::GetHealthPageRequest>,
    ) -> Result<Response<pb::GetHealthPageResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            SHOP_ROLES_READ,
            "reading the health page",
        )?;
        let as_of = optional_instant(&request.get_ref().as_of, "as_of")?;
        let (state, at) = self.app.state_at(&shop, as_of).await.map_err(to_status)?;
        let standing = state.standing(at, &self.app.policies());
        Ok(Response::new(pb::GetHealthPageResponse {
            standing: Some(standing_pb(&shop, &standing)),
            violations: state.health_page(at).iter().map(violation_pb).collect(),
        }))
    }

    async fn list_violations(
        &self,
        request: Request<pb::ListViolationsRequest>,
    ) -> Result<Response<pb::ListViolationsResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            SHOP_ROLES_READ,
            "listing violations",
        )?;
        let page = Page::of(request.get_ref().page.as_ref())?;
        let size = page.size;
        // Newest first: the cursor anchors on the count of violations recorded
        // when paging began, so new violations do not shift pages.
        let (total_then, offset) = page.offset()?;
        let (total_then, offset) = (
            total_then.map(|t| usize::try_from(t).unwrap_or(usize::MAX)),
            usize::try_from(offset).unwrap_or(usize::MAX),
        );
        let (state, at) = self.app.state_at(&shop, None).await.map_err(to_status)?;
        let total = state.violation_count();
        let total_then = total_then.unwrap_or(total).min(total);
        let skip = (total - total_then).saturating_add(offset);
        let views = state.violations_page(at, skip, size);
        let next = offset.saturating_add(views.len());
        let next = (next < total_then).then_some(Cursor::Offset {
            anchor: total_then as u64,
            offset: next as u64,
        });
        Ok(Response::new(pb::ListViolationsResponse {
            violations: views.iter().map(violation_pb).collect(),
            page: page::next(next),
        }))
    }

    type WatchStandingStream = WatchStream;

    async fn watch_standing(
        &self,
        request: Request<pb::WatchStandingRequest>,
    ) -> Result<Response<Self::WatchStandingStream>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            SHOP_ROLES_READ,
            "watching the standing",
        )?;
        let bounds = StreamBounds::of(&request)?;
        let app = self.app.clone();
        let mut changes = app.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut last: Option<pb::Standing> = None;
            loop {
                // When time alone changes the standing next (points expire):
                // the replica whose scheduler acts may be another one.
                let next_change;
                match app.standing(&shop, None).await {
                    Ok(s) => {
                        next_change = s.next_change_at;
                        let msg = standing_pb(&shop, &s);
                        let changed = last.as_ref().is_none_or(|l| {
                            (l.points, l.tier, l.revoked, &l.measures)
                                != (msg.points, msg.tier, msg.revoked, &msg.measures)
                        });
                        if changed {
                            last = Some(msg.clone());
                            if tx
                                .send(Ok(pb::WatchStandingResponse {
                                    standing: Some(msg),
                                }))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                }
                // Wait for a change to this shop, or for its next change in
                // time; a lagging receiver just re-reads.
                let due = next_change
                    .map(|at| (at - app.clock().now()).to_std().unwrap_or_default())
                    .unwrap_or(MAX_WATCH_SLEEP)
                    .min(MAX_WATCH_SLEEP);
                let due = tokio::time::sleep(due);
                tokio::pin!(due);
                loop {
                    tokio::select! {
                        () = &mut due => break,
                        r = changes.recv() => match r {
                            // A policy ("") concerns every shop.
                            Ok(s) if s == shop || s.is_empty() => break,
                            Ok(_) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                            Err(_) => return,
                        },
                        _ = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(
            bounds.apply(tokio_stream::wrappers::ReceiverStream::new(rx)),
        ))
    }

    async fn publish_policy(
        &self,
        request: Request<pb::PublishPolicyRequest>,
    ) -> Result<Response<pb::PublishPolicyResponse>, Status> {
        let caller = Caller::of(&request)?;
        caller.require(&[Role::Platform], "publishing a policy")?;
        let policy = request
            .into_inner()
            .policy
            .ok_or_else(|| errors::invalid_argument(&[("policy", "required".into())]))?;
        let policy = policy_from_pb(policy)?;
        let published = self
            .app
            .publish_policy(policy, metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::PublishPolicyResponse {
            policy: Some(policy_pb(&published)),
        }))
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::GetPolicyResponse>, Status> {
        Caller::of(&request)?;
        let at = optional_instant(&request.get_ref().as_of, "as_of")?
            .unwrap_or_else(|| self.app.clock().now());
        Ok(Response::new(pb::GetPolicyResponse {
            policy: Some(policy_pb(self.app.policies().in_force(at))),
        }))
    }

    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        Caller::of(&request)?;
        Ok(Response::new(pb::ListPoliciesResponse {
            policies: self.app.policies().all().iter().map(policy_pb).collect(),
        }))
    }
}
