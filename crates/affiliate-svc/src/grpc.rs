//! The public API (`sellerdesk.affiliate.v1`) mapped onto [`Affiliate`].
//! Owner and admin invite, plan and ship samples; every role of the shop
//! reads and searches; the platform publishes creators and relays what they
//! do; another shop sees nothing (R-X-1).

use crate::{
    app::Affiliate,
    domain::{
        Command, ContentKind, CreatorProfile, CreatorQuery, CreatorView, Cursor, DomainError, Goal,
        Outreach, PlanProduct, PlanSource, Sample, SortBy,
    },
    invitations::INVITATIONS,
    orders::ORDERS,
    plans::PLANS,
    samples::SAMPLES,
};
use sellerdesk_api::affiliate::v1 as pb;
use sellerdesk_runtime::{
    errors,
    page::{self, Page},
    wire::{authorize, command_metadata, timestamp, ANY_ROLE, MANAGERS},
    Caller, Role,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

const PLATFORM: &[Role] = &[Role::Platform];
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 200;

#[derive(Debug, Clone)]
pub struct AffiliateApi {
    app: Arc<Affiliate>,
}

impl AffiliateApi {
    pub fn new(app: Arc<Affiliate>) -> Self {
        Self { app }
    }
}

use sellerdesk_runtime::errors::to_status;

fn goal_from_pb(v: i32) -> Result<Goal, Status> {
    match pb::Goal::try_from(v) {
        Ok(pb::Goal::BrandPromotion) => Ok(Goal::BrandPromotion),
        Ok(pb::Goal::Sales) => Ok(Goal::Sales),
        _ => Err(errors::invalid_argument(&[(
            "goal",
            "brand promotion or sales (R-AFF-1)".into(),
        )])),
    }
}

fn goal_pb(g: Goal) -> i32 {
    match g {
        Goal::BrandPromotion => pb::Goal::BrandPromotion as i32,
        Goal::Sales => pb::Goal::Sales as i32,
    }
}

fn creator_pb(c: &CreatorView) -> pb::Creator {
    let p = &c.profile;
    let m = &c.metrics;
    pb::Creator {
        profile: Some(pb::CreatorProfile {
            creator_id: p.creator_id.clone(),
            handle: p.handle.clone(),
            categories: p.categories.clone(),
            followers: p.followers,
            female_share_bps: p.female_share_bps,
            main_age_band: p.main_age_band.clone(),
            top_regions: p.top_regions.clone(),
            engagement_bps: p.engagement_bps,
            top_brands: p.top_brands.clone(),
            price_low_fen: p.price_band_fen.0,
            price_high_fen: p.price_band_fen.1,
            videos: p.videos,
            lives: p.lives,
            avg_video_views: p.avg_video_views,
            avg_live_viewers: p.avg_live_viewers,
        }),
        metrics: Some(pb::CreatorMetrics {
            samples_shipped: m.samples_shipped,
            samples_fulfilled: m.samples_fulfilled,
            samples_missed: m.samples_missed,
            invitations_received: m.invitations_received,
            invitations_answered: m.invitations_answered,
            fulfilment_bps: m.fulfilment_bps(),
            reply_rate_bps: m.reply_rate_bps(),
            mean_reply_secs: m.mean_reply_secs(),
        }),
        open_content_deadlines: c.open_deadlines.iter().copied().map(timestamp).collect(),
    }
}

/// An invitation as clients see it, expiry judged against `limits` at `now`.
fn invitation_pb(
    o: &Outreach,
    id: &str,
    limits: &crate::domain::Limits,
    now: crate::domain::Instant,
) -> Option<pb::Invitation> {
    o.invitations
        .get(id)
        .map(|i| one_invitation_pb(id, i, limits, now))
}

fn one_invitation_pb(
    id: &str,
    i: &crate::domain::Invitation,
    limits: &crate::domain::Limits,
    now: crate::domain::Instant,
) -> pb::Invitation {
    pb::Invitation {
        expired: i.accepted.is_none() && limits.expired(i.sent_at, now),
        expires_at: Some(timestamp(
            i.sent_at + chrono::Duration::days(i64::from(limits.invitation_days)),
        )),
        invitation_id: id.to_owned(),
        creator_id: i.creator_id.clone(),
        goal: goal_pb(i.goal),
        message: i.message.clone(),
        sent_at: Some(timestamp(i.sent_at)),
        answered: i.accepted.is_some(),
        accepted: i.accepted.unwrap_or(false),
    }
}

fn plan_pb(o: &Outreach, id: &str) -> Result<pb::Plan, Status> {
    let p = o
        .plans
        .get(id)
        .ok_or_else(|| errors::not_found("plan", id))?;
    Ok(plan_to_pb(id, p))
}

fn plan_to_pb(id: &str, p: &crate::domain::Plan) -> pb::Plan {
    pb::Plan {
        plan_id: id.to_owned(),
        name: p.name.clone(),
        goal: goal_pb(p.goal),
        products: p
            .products
            .iter()
            .map(|x| pb::PlanProduct {
                product_id: x.product_id.clone(),
                commission_bps: x.commission_bps,
            })
            .collect(),
        creator_ids: p.creator_ids.clone(),
        creators: p
            .creator_ids
            .iter()
            .map(|c| pb::PlanCreator {
                creator_id: c.clone(),
                answer: match p.answers.get(c) {
                    None => pb::PlanAnswer::Pending,
                    Some(true) => pb::PlanAnswer::Accepted,
                    Some(false) => pb::PlanAnswer::Declined,
                } as i32,
            })
            .collect(),
        ended_at: p.ended_at.map(timestamp),
        source: match p.source {
            PlanSource::PlanManagement => pb::PlanSource::PlanManagement,
            PlanSource::CreatorPage => pb::PlanSource::CreatorPage,
        } as i32,
        sales: Some(pb::PlanSales {
            revenue_fen: p.sales.revenue_fen,
            product_cost_fen: p.sales.product_cost_fen,
            commission_fen: p.sales.commission_fen,
            refunded_fen: p.sales.refunded_fen,
            roi_bps: p.sales.roi_bps(),
        }),
    }
}

/// A sample as clients see it, judged at `now` (R-AFF-6).
fn sample_pb(o: &Outreach, id: &str, now: crate::domain::Instant) -> Option<pb::Sample> {
    o.samples.get(id).map(|s| one_sample_pb(id, s, now))
}

fn one_sample_pb(id: &str, s: &Sample, now: crate::domain::Instant) -> pb::Sample {
    pb::Sample {
        sample_id: id.to_owned(),
        creator_id: s.creator_id.clone(),
        product_id: s.product_id.clone(),
        requested_at: s.requested_at.map(timestamp),
        reviewed: s.review.is_some(),
        approved: matches!(s.review, Some(Ok(()))),
        rejection_reason: match &s.review {
            Some(Err(why)) => why.clone(),
            _ => String::new(),
        },
        shipped_at: s.shipped_at.map(timestamp),
        delivered_at: s.delivered_at.map(timestamp),
        content_due: s.content_due.map(timestamp),
        content_posted_at: s.content.map(|(_, at)| timestamp(at)),
        content_kind: match s.content {
            Some((ContentKind::Video, _)) => pb::ContentKind::Video,
            Some((ContentKind::Live, _)) => pb::ContentKind::Live,
            None => pb::ContentKind::Unspecified,
        } as i32,
        missed: s.content_due.is_some_and(|due| match s.content {
            Some((_, posted)) => posted > due,
            None => now > due,
        }),
    }
}

impl AffiliateApi {
    /// The record under `id` in one of the read models of records
    /// (invitations, attributed orders, plans, samples), archived ones
    /// included: what a command decides an archived id by, and what a read
    /// falls back to.
    async fn on_record<R: sellerdesk_runtime::records::Record>(
        &self,
        records: &sellerdesk_runtime::records::Records,
        shop: &str,
        id: &str,
    ) -> Result<Option<R>, Status> {
        self.app
            .on_record::<R>(records, shop, id)
            .await
            .map_err(to_status)
    }

    /// A command's refusal, unless it found no `archive.kind` under `id`
    /// while the read model holds one: then the record left the outreach
    /// long after it ended or settled (decision 0022), and the command is
    /// refused for that (FAILED_PRECONDITION `archive.reason`), as for a
    /// record that ended, not as for an id nobody used. GetPlan and
    /// GetSample still read it.
    async fn refused_or_archived<R: sellerdesk_runtime::records::Record>(
        &self,
        refusal: errors::AppError,
        shop: &str,
        id: &str,
        archive: &Archive,
    ) -> Status {
        let missing = matches!(
            &refusal,
            errors::AppError::Domain(DomainError::NotFound { kind, id: missing })
                if *kind == archive.kind && missing == id
        );
        if missing {
            match self.on_record::<R>(archive.records, shop, id).await {
                Ok(Some(_)) => {
                    return to_status(errors::AppError::Domain(DomainError::precondition(
                        archive.reason,
                        id,
                        format!(
                            "{} {id} {} more than {} days ago and is archived: it can no \
                             longer change ({} reads it)",
                            archive.kind, archive.closed, archive.kept_days, archive.read_by
                        ),
                    )))
                }
                Ok(None) => {}
                Err(status) => return status,
            }
        }
        to_status(refusal)
    }

    /// Runs a plan command for the shop the request names and answers with
    /// the plan as it stands after it.
    async fn on_plan<T>(
        &self,
        request: &Request<T>,
        shop_id: &str,
        roles: &[Role],
        what: &str,
        plan_id: &str,
        command: impl Fn(crate::domain::Instant) -> Command,
    ) -> Result<Option<pb::Plan>, Status> {
        let (caller, shop) = authorize(request, shop_id, roles, what)?;
        let (outreach, _) = match self
            .app
            .execute(Some(&shop), &command_metadata(&caller), command)
            .await
        {
            Ok(done) => done,
            Err(e) => {
                return Err(self
                    .refused_or_archived::<crate::domain::Plan>(e, &shop, plan_id, &PLAN_ARCHIVE)
                    .await)
            }
        };
        Ok(Some(plan_pb(&outreach, plan_id)?))
    }

    /// Runs a sample command for the shop the request names and answers
    /// with the sample as it stands after it.
    async fn on_sample<T>(
        &self,
        request: &Request<T>,
        shop_id: &str,
        roles: &[Role],
        what: &str,
        sample_id: &str,
        command: impl Fn(crate::domain::Instant) -> Command,
    ) -> Result<Option<pb::Sample>, Status> {
        self.on_sample_id(request, shop_id, roles, what, sample_id, false, |at, _| {
            command(at)
        })
        .await
    }

    /// [`Self::on_sample`] for a command that may start a sample under
    /// `sample_id` (RequestSample, ShipSample): when `starts` the samples
    /// read model is asked whether the id is on record, and the command is
    /// built with that answer (an archived id stays taken).
    #[allow(clippy::too_many_arguments)]
    async fn on_sample_id<T>(
        &self,
        request: &Request<T>,
        shop_id: &str,
        roles: &[Role],
        what: &str,
        sample_id: &str,
        starts: bool,
        command: impl Fn(crate::domain::Instant, bool) -> Command,
    ) -> Result<Option<pb::Sample>, Status> {
        let (caller, shop) = authorize(request, shop_id, roles, what)?;
        let on_record = starts
            && self
                .on_record::<Sample>(&SAMPLES, &shop, sample_id)
                .await?
                .is_some();
        let (outreach, _) = match self
            .app
            .execute(Some(&shop), &command_metadata(&caller), |at| {
                command(at, on_record)
            })
            .await
        {
            Ok(done) => done,
            Err(e) => {
                return Err(self
                    .refused_or_archived::<Sample>(e, &shop, sample_id, &SAMPLE_ARCHIVE)
                    .await)
            }
        };
        Ok(sample_pb(&outreach, sample_id, self.app.now()))
    }
}

/// How a command on a record that left the outreach is refused.
struct Archive {
    records: &'static sellerdesk_runtime::records::Records,
    kind: &'static str,
    reason: &'static str,
    closed: &'static str,
    kept_days: i64,
    read_by: &'static str,
}

const PLAN_ARCHIVE: Archive = Archive {
    records: &PLANS,
    kind: "plan",
    reason: "PLAN_ARCHIVED",
    closed: "ended",
    kept_days: crate::domain::PLAN_KEPT_DAYS,
    read_by: "GetPlan",
};

const SAMPLE_ARCHIVE: Archive = Archive {
    records: &SAMPLES,
    kind: "sample",
    reason: "SAMPLE_ARCHIVED",
    closed: "settled",
    kept_days: crate::domain::SAMPLE_KEPT_DAYS,
    read_by: "GetSample",
};

fn products_from_pb(products: &[pb::PlanProduct]) -> Vec<PlanProduct> {
    products
        .iter()
        .map(|p| PlanProduct {
            product_id: p.product_id.clone(),
            commission_bps: p.commission_bps,
        })
        .collect()
}

fn non_empty(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

#[tonic::async_trait]
impl pb::affiliate_service_server::AffiliateService for AffiliateApi {
    async fn profile_creator(
        &self,
        request: Request<pb::ProfileCreatorRequest>,
    ) -> Result<Response<pb::ProfileCreatorResponse>, Status> {
        let caller = Caller::of(&request)?;
        caller.require(PLATFORM, "publishing a creator profile")?;
        let p = request
            .into_inner()
            .profile
            .ok_or_else(|| errors::invalid_argument(&[("profile", "required".into())]))?;
        let profile = CreatorProfile {
            creator_id: p.creator_id.clone(),
            handle: p.handle,
            categories: p.categories,
            followers: p.followers,
            female_share_bps: p.female_share_bps,
            main_age_band: p.main_age_band,
            top_regions: p.top_regions,
            engagement_bps: p.engagement_bps,
            top_brands: p.top_brands,
            price_band_fen: (p.price_low_fen, p.price_high_fen),
            videos: p.videos,
            lives: p.lives,
            avg_video_views: p.avg_video_views,
            avg_live_viewers: p.avg_live_viewers,
        };
        self.app
            .execute(None, &command_metadata(&caller), |_| {
                Command::ProfileCreator {
                    profile: profile.clone(),
                }
            })
            .await
            .map_err(to_status)?;
        let creator = self
            .app
            .market_now(|m| {
                m.creator(&p.creator_id, self.app.now())
                    .as_ref()
                    .map(creator_pb)
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ProfileCreatorResponse { creator }))
    }

    async fn get_creator(
        &self,
        request: Request<pb::GetCreatorRequest>,
    ) -> Result<Response<pb::GetCreatorResponse>, Status> {
        authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading a creator",
        )?;
        let id = &request.get_ref().creator_id;
        let creator = self
            .app
            .market_now(|m| {
                m.creator(id, self.app.now())
                    .filter(|c| !c.profile.handle.is_empty())
                    .as_ref()
                    .map(creator_pb)
            })
            .await
            .map_err(to_status)?
            .ok_or_else(|| errors::not_found("creator", id))?;
        Ok(Response::new(pb::GetCreatorResponse {
            creator: Some(creator),
        }))
    }

    async fn search_creators(
        &self,
        request: Request<pb::SearchCreatorsRequest>,
    ) -> Result<Response<pb::SearchCreatorsResponse>, Status> {
        authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "searching creators",
        )?;
        let r = request.into_inner();
        if r.limit > MAX_LIMIT {
            return Err(errors::invalid_argument(&[(
                "limit",
                format!("at most {MAX_LIMIT}"),
            )]));
        }
        let limit = if r.limit == 0 { DEFAULT_LIMIT } else { r.limit } as usize;
        let query = CreatorQuery {
            keyword: non_empty(r.keyword),
            handle: non_empty(r.handle),
            category: non_empty(r.category),
            min_followers: r.min_followers,
            max_followers: r.max_followers,
            mostly_female: r.mostly_female,
            age_band: non_empty(r.age_band),
            region: non_empty(r.region),
            min_engagement_bps: r.min_engagement_bps,
            min_fulfilment_bps: r.min_fulfilment_bps,
            min_reply_rate_bps: r.min_reply_rate_bps,
            max_mean_reply_secs: r.max_mean_reply_secs,
            brand: non_empty(r.brand),
            price_fen: r.price_fen,
            min_videos: r.min_videos,
            min_lives: r.min_lives,
            min_avg_video_views: r.min_avg_video_views,
            min_avg_live_viewers: r.min_avg_live_viewers,
            at: self.app.now(),
            sort: match pb::SortBy::try_from(r.sort) {
                Ok(pb::SortBy::Engagement) => SortBy::Engagement,
                Ok(pb::SortBy::Fulfilment) => SortBy::Fulfilment,
                Ok(pb::SortBy::ReplyRate) => SortBy::ReplyRate,
                Ok(pb::SortBy::ReplyTime) => SortBy::ReplyTime,
                Ok(pb::SortBy::Videos) => SortBy::Videos,
                Ok(pb::SortBy::Lives) => SortBy::Lives,
                Ok(pb::SortBy::AvgVideoViews) => SortBy::AvgVideoViews,
                Ok(pb::SortBy::AvgLiveViewers) => SortBy::AvgLiveViewers,
                Ok(pb::SortBy::Followers | pb::SortBy::Unspecified) => SortBy::Followers,
                Err(_) => {
                    return Err(errors::invalid_argument(&[(
                        "sort",
                        "one of the SortBy values".into(),
                    )]))
                }
            },
        };
        let fingerprint = query.fingerprint();
        let after = match r.page_token.as_str() {
            "" => None,
            token => Some(Cursor::from_token(token, fingerprint).ok_or_else(|| {
                errors::invalid_argument(&[(
                    "page_token",
                    "not a token from this search with these filters".into(),
                )])
            })?),
        };
        let page = self
            .app
            .market_now(|m| m.search(&query, after.as_ref(), limit))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SearchCreatorsResponse {
            creators: page.creators.iter().map(creator_pb).collect(),
            next_page_token: page.next.map(|c| c.token(fingerprint)).unwrap_or_default(),
            total: page.total as u64,
        }))
    }

    async fn send_invitation(
        &self,
        request: Request<pb::SendInvitationRequest>,
    ) -> Result<Response<pb::SendInvitationResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "inviting a creator",
        )?;
        let r = request.into_inner();
        let goal = goal_from_pb(r.goal)?;
        let on_record = self
            .on_record::<crate::domain::Invitation>(&INVITATIONS, &shop, &r.invitation_id)
            .await?
            .is_some();
        let (outreach, _) = self
            .app
            .execute(Some(&shop), &command_metadata(&caller), |at| {
                Command::SendInvitation {
                    invitation_id: r.invitation_id.clone(),
                    creator_id: r.creator_id.clone(),
                    goal,
                    message: r.message.clone(),
                    at,
                    on_record,
                }
            })
            .await
            .map_err(to_status)?;
        let invitation = invitation_pb(
            &outreach,
            &r.invitation_id,
            self.app.limits(),
            self.app.now(),
        );
        let today = outreach
            .invitations
            .get(&r.invitation_id)
            .map(|i| i.sent_at.with_timezone(&outreach.zone()).date_naive());
        let used = today
            .and_then(|d| outreach.sent_per_day.get(&d))
            .copied()
            .unwrap_or(0);
        Ok(Response::new(pb::SendInvitationResponse {
            invitation,
            remaining_today: self.app.limits().daily_invitations.saturating_sub(used),
        }))
    }

    async fn answer_invitation(
        &self,
        request: Request<pb::AnswerInvitationRequest>,
    ) -> Result<Response<pb::AnswerInvitationResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "relaying a creator's answer",
        )?;
        let r = request.into_inner();
        let on_record = self
            .on_record::<crate::domain::Invitation>(&INVITATIONS, &shop, &r.invitation_id)
            .await?
            .is_some();
        let (outreach, _) = self
            .app
            .execute(Some(&shop), &command_metadata(&caller), |at| {
                Command::AnswerInvitation {
                    invitation_id: r.invitation_id.clone(),
                    accepted: r.accepted,
                    at,
                    on_record,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::AnswerInvitationResponse {
            invitation: invitation_pb(
                &outreach,
                &r.invitation_id,
                self.app.limits(),
                self.app.now(),
            ),
        }))
    }

    async fn list_invitation_history(
        &self,
        request: Request<pb::ListInvitationHistoryRequest>,
    ) -> Result<Response<pb::ListInvitationHistoryResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "listing invitations",
        )?;
        let page = Page::of(request.get_ref().page.as_ref())?;
        let mut found = self
            .app
            .invitation_history(&shop, page.after_instant()?, page.read_ahead())
            .await
            .map_err(to_status)?;
        let next = page.trim(&mut found, |(id, i)| {
            page::Cursor::after_instant(i.sent_at.timestamp_millis(), id)
        });
        let (limits, now) = (self.app.limits(), self.app.now());
        Ok(Response::new(pb::ListInvitationHistoryResponse {
            invitations: found
                .iter()
                .map(|(id, i)| one_invitation_pb(id, i, limits, now))
                .collect(),
            page: next,
        }))
    }

    async fn list_invitations(
        &self,
        request: Request<pb::ListInvitationsRequest>,
    ) -> Result<Response<pb::ListInvitationsResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "listing invitations",
        )?;
        let outreach = self.app.outreach(&shop).await.map_err(to_status)?;
        let (limits, now) = (self.app.limits(), self.app.now());
        let invitations = outreach
            .invitations
            .keys()
            .filter_map(|id| invitation_pb(&outreach, id, limits, now))
            .collect();
        Ok(Response::new(pb::ListInvitationsResponse { invitations }))
    }

    async fn create_plan(
        &self,
        request: Request<pb::CreatePlanRequest>,
    ) -> Result<Response<pb::CreatePlanResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "creating a targeted plan",
        )?;
        let r = request.into_inner();
        let goal = goal_from_pb(r.goal)?;
        let source = match pb::PlanSource::try_from(r.source) {
            Ok(pb::PlanSource::CreatorPage) => PlanSource::CreatorPage,
            Ok(pb::PlanSource::PlanManagement) | Ok(pb::PlanSource::Unspecified) => {
                PlanSource::PlanManagement
            }
            Err(_) => {
                return Err(errors::invalid_argument(&[(
                    "source",
                    "plan management or a creator's page".into(),
                )]))
            }
        };
        let products = products_from_pb(&r.products);
        let on_record = self
            .on_record::<crate::domain::Plan>(&PLANS, &shop, &r.plan_id)
            .await?
            .is_some();
        let (outreach, _) = self
            .app
            .execute(Some(&shop), &command_metadata(&caller), |at| {
                Command::CreatePlan {
                    plan_id: r.plan_id.clone(),
                    name: r.name.clone(),
                    goal,
                    products: products.clone(),
                    creator_ids: r.creator_ids.clone(),
                    creator_handles: r.creator_handles.clone(),
                    source,
                    at,
                    on_record,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreatePlanResponse {
            plan: Some(plan_pb(&outreach, &r.plan_id)?),
        }))
    }

    async fn add_plan_creators(
        &self,
        request: Request<pb::AddPlanCreatorsRequest>,
    ) -> Result<Response<pb::AddPlanCreatorsResponse>, Status> {
        let r = request.get_ref().clone();
        let plan = self
            .on_plan(
                &request,
                &r.shop_id,
                MANAGERS,
                "changing a targeted plan",
                &r.plan_id,
                |_| Command::AddPlanCreators {
                    plan_id: r.plan_id.clone(),
                    creator_ids: r.creator_ids.clone(),
                },
            )
            .await?;
        Ok(Response::new(pb::AddPlanCreatorsResponse { plan }))
    }

    async fn edit_plan(
        &self,
        request: Request<pb::EditPlanRequest>,
    ) -> Result<Response<pb::EditPlanResponse>, Status> {
        let r = request.get_ref().clone();
        let products = (!r.products.is_empty()).then(|| products_from_pb(&r.products));
        let plan = self
            .on_plan(
                &request,
                &r.shop_id,
                MANAGERS,
                "changing a targeted plan",
                &r.plan_id,
                |at| Command::EditPlan {
                    plan_id: r.plan_id.clone(),
                    name: r.name.clone(),
                    products: products.clone(),
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::EditPlanResponse { plan }))
    }

    async fn end_plan(
        &self,
        request: Request<pb::EndPlanRequest>,
    ) -> Result<Response<pb::EndPlanResponse>, Status> {
        let r = request.get_ref().clone();
        let plan = self
            .on_plan(
                &request,
                &r.shop_id,
                MANAGERS,
                "ending a targeted plan",
                &r.plan_id,
                |at| Command::EndPlan {
                    plan_id: r.plan_id.clone(),
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::EndPlanResponse { plan }))
    }

    async fn answer_plan(
        &self,
        request: Request<pb::AnswerPlanRequest>,
    ) -> Result<Response<pb::AnswerPlanResponse>, Status> {
        let r = request.get_ref().clone();
        let plan = self
            .on_plan(
                &request,
                &r.shop_id,
                PLATFORM,
                "relaying a creator's answer to a plan",
                &r.plan_id,
                |at| Command::AnswerPlan {
                    plan_id: r.plan_id.clone(),
                    creator_id: r.creator_id.clone(),
                    accepted: r.accepted,
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::AnswerPlanResponse { plan }))
    }

    async fn set_time_zone(
        &self,
        request: Request<pb::SetTimeZoneRequest>,
    ) -> Result<Response<pb::SetTimeZoneResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "setting the shop's time zone",
        )?;
        let time_zone = request.into_inner().time_zone;
        let (outreach, _) = self
            .app
            .execute(Some(&shop), &command_metadata(&caller), |at| {
                Command::SetTimeZone {
                    time_zone: time_zone.clone(),
                    at,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetTimeZoneResponse {
            time_zone: outreach.zone().name().to_owned(),
        }))
    }

    async fn get_plan(
        &self,
        request: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::GetPlanResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading a plan",
        )?;
        let id = &request.get_ref().plan_id;
        let outreach = self.app.outreach(&shop).await.map_err(to_status)?;
        let plan = match outreach.plans.get(id) {
            Some(p) => plan_to_pb(id, p),
            // Ended long ago: the plans read model holds it (decision 0022).
            None => self
                .on_record::<crate::domain::Plan>(&PLANS, &shop, id)
                .await?
                .map(|p| plan_to_pb(id, &p))
                .ok_or_else(|| errors::not_found("plan", id))?,
        };
        Ok(Response::new(pb::GetPlanResponse { plan: Some(plan) }))
    }

    async fn request_sample(
        &self,
        request: Request<pb::RequestSampleRequest>,
    ) -> Result<Response<pb::RequestSampleResponse>, Status> {
        let r = request.get_ref().clone();
        let sample = self
            .on_sample_id(
                &request,
                &r.shop_id,
                PLATFORM,
                "relaying a sample request",
                &r.sample_id,
                true,
                |at, on_record| Command::RequestSample {
                    sample_id: r.sample_id.clone(),
                    creator_id: r.creator_id.clone(),
                    product_id: r.product_id.clone(),
                    at,
                    on_record,
                },
            )
            .await?;
        Ok(Response::new(pb::RequestSampleResponse { sample }))
    }

    async fn review_sample_request(
        &self,
        request: Request<pb::ReviewSampleRequestRequest>,
    ) -> Result<Response<pb::ReviewSampleRequestResponse>, Status> {
        let r = request.get_ref().clone();
        let sample = self
            .on_sample(
                &request,
                &r.shop_id,
                MANAGERS,
                "reviewing a sample request",
                &r.sample_id,
                |at| Command::ReviewSampleRequest {
                    sample_id: r.sample_id.clone(),
                    approved: r.approved,
                    reason: r.reason.clone(),
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::ReviewSampleRequestResponse { sample }))
    }

    async fn ship_sample(
        &self,
        request: Request<pb::ShipSampleRequest>,
    ) -> Result<Response<pb::ShipSampleResponse>, Status> {
        let r = request.get_ref().clone();
        let sample = self
            .on_sample_id(
                &request,
                &r.shop_id,
                MANAGERS,
                "shipping a sample",
                &r.sample_id,
                true,
                |at, on_record| Command::ShipSample {
                    sample_id: r.sample_id.clone(),
                    creator_id: r.creator_id.clone(),
                    product_id: r.product_id.clone(),
                    at,
                    on_record,
                },
            )
            .await?;
        Ok(Response::new(pb::ShipSampleResponse { sample }))
    }

    async fn record_sample_delivered(
        &self,
        request: Request<pb::RecordSampleDeliveredRequest>,
    ) -> Result<Response<pb::RecordSampleDeliveredResponse>, Status> {
        let r = request.get_ref().clone();
        let sample = self
            .on_sample(
                &request,
                &r.shop_id,
                PLATFORM,
                "recording a delivery",
                &r.sample_id,
                |at| Command::RecordSampleDelivered {
                    sample_id: r.sample_id.clone(),
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::RecordSampleDeliveredResponse { sample }))
    }

    async fn record_content_posted(
        &self,
        request: Request<pb::RecordContentPostedRequest>,
    ) -> Result<Response<pb::RecordContentPostedResponse>, Status> {
        let r = request.get_ref().clone();
        let kind = match pb::ContentKind::try_from(r.kind) {
            Ok(pb::ContentKind::Video) => ContentKind::Video,
            Ok(pb::ContentKind::Live) => ContentKind::Live,
            _ => {
                return Err(errors::invalid_argument(&[(
                    "kind",
                    "video or live".into(),
                )]))
            }
        };
        let sample = self
            .on_sample(
                &request,
                &r.shop_id,
                PLATFORM,
                "recording a creator's content",
                &r.sample_id,
                |at| Command::RecordContentPosted {
                    sample_id: r.sample_id.clone(),
                    kind,
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::RecordContentPostedResponse { sample }))
    }

    async fn get_sample(
        &self,
        request: Request<pb::GetSampleRequest>,
    ) -> Result<Response<pb::GetSampleResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading a sample",
        )?;
        let id = &request.get_ref().sample_id;
        let outreach = self.app.outreach(&shop).await.map_err(to_status)?;
        let now = self.app.now();
        // The outreach first (every acknowledged change); a sample it no
        // longer holds was archived (decision 0022).
        let sample = match outreach.samples.get(id) {
            Some(s) => one_sample_pb(id, s, now),
            None => self
                .on_record::<Sample>(&SAMPLES, &shop, id)
                .await?
                .map(|s| one_sample_pb(id, &s, now))
                .ok_or_else(|| errors::not_found("sample", id))?,
        };
        Ok(Response::new(pb::GetSampleResponse {
            sample: Some(sample),
        }))
    }

    async fn record_plan_sale(
        &self,
        request: Request<pb::RecordPlanSaleRequest>,
    ) -> Result<Response<pb::RecordPlanSaleResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "recording plan sales",
        )?;
        let r = request.into_inner();
        let on_record = self
            .on_record::<crate::domain::AttributedOrder>(&ORDERS, &shop, &r.order_id)
            .await?
            .is_some();
        let sold = self
            .app
            .execute(Some(&shop), &command_metadata(&caller), |at| {
                Command::RecordPlanSale {
                    order_id: r.order_id.clone(),
                    plan_id: r.plan_id.clone(),
                    creator_id: r.creator_id.clone(),
                    product_id: r.product_id.clone(),
                    revenue_fen: r.revenue_fen,
                    product_cost_fen: r.product_cost_fen,
                    at,
                    on_record,
                }
            })
            .await;
        let (outreach, _) = match sold {
            Ok(done) => done,
            Err(e) => {
                return Err(self
                    .refused_or_archived::<crate::domain::Plan>(e, &shop, &r.plan_id, &PLAN_ARCHIVE)
                    .await)
            }
        };
        Ok(Response::new(pb::RecordPlanSaleResponse {
            plan: Some(plan_pb(&outreach, &r.plan_id)?),
        }))
    }

    async fn record_order_refund(
        &self,
        request: Request<pb::RecordOrderRefundRequest>,
    ) -> Result<Response<pb::RecordOrderRefundResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "recording a refund",
        )?;
        let r = request.into_inner();
        let on_record = self
            .on_record::<crate::domain::AttributedOrder>(&ORDERS, &shop, &r.order_id)
            .await?
            .is_some();
        let (outreach, events) = self
            .app
            .execute(Some(&shop), &command_metadata(&caller), |at| {
                Command::RecordOrderRefund {
                    order_id: r.order_id.clone(),
                    refund_fen: r.refund_fen,
                    at,
                    on_record,
                }
            })
            .await
            .map_err(to_status)?;
        let clawed_back = events
            .iter()
            .map(|e| match e {
                crate::domain::Event::OrderRefunded {
                    commission_clawback_fen,
                    ..
                } => *commission_clawback_fen,
                _ => 0,
            })
            .sum();
        let plan_id = outreach
            .orders
            .get(&r.order_id)
            .map(|o| o.plan_id.clone())
            .unwrap_or_default();
        Ok(Response::new(pb::RecordOrderRefundResponse {
            plan: Some(plan_pb(&outreach, &plan_id)?),
            commission_clawback_fen: clawed_back,
        }))
    }

    async fn settle_commissions(
        &self,
        request: Request<pb::SettleCommissionsRequest>,
    ) -> Result<Response<pb::SettleCommissionsResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "settling commissions",
        )?;
        let r = request.into_inner();
        let (_, events) = self
            .app
            .execute(Some(&shop), &command_metadata(&caller), |at| {
                Command::SettleCommissions {
                    settlement_id: r.settlement_id.clone(),
                    at,
                }
            })
            .await
            .map_err(to_status)?;
        let lines = events
            .iter()
            .flat_map(|e| match e {
                crate::domain::Event::CommissionsSettled { lines, .. } => lines.clone(),
                _ => vec![],
            })
            .map(|l| pb::CommissionLine {
                creator_id: l.creator_id,
                amount_fen: l.amount_fen,
            })
            .collect();
        Ok(Response::new(pb::SettleCommissionsResponse { lines }))
    }

    async fn list_commissions(
        &self,
        request: Request<pb::ListCommissionsRequest>,
    ) -> Result<Response<pb::ListCommissionsResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading commissions",
        )?;
        let outreach = self.app.outreach(&shop).await.map_err(to_status)?;
        let commissions = outreach
            .commissions
            .iter()
            .map(|(c, a)| pb::CreatorCommission {
                creator_id: c.clone(),
                earned_fen: a.earned_fen,
                clawed_back_fen: a.clawed_back_fen,
                settled_fen: a.settled_fen,
                due_fen: a.due_fen(),
            })
            .collect();
        Ok(Response::new(pb::ListCommissionsResponse { commissions }))
    }
}
