//! The public API (`sellerdesk.ads.v1`) mapped onto [`Ads`]. Owner and admin
//! order, invoice and move funds; every role of the shop reads; the platform
//! reviews, reports delivery and qualifies the account; another shop sees
//! nothing (R-X-1).

use crate::{
    app::Ads,
    domain::{
        recommendations, AdsAccount, Bid, Channel, Command, FundsMove, InvoiceKind, Objective,
        Order, OrderSpec, OrderStatus, PaidStats, PaymentMethod, Product, Refund, Subject, Target,
        Targeting,
    },
};
use sellerdesk_api::ads::v1 as pb;
use sellerdesk_runtime::{
    errors,
    page::{Cursor, Page},
    wire::{authorize, command_metadata, timestamp, ANY_ROLE, MANAGERS},
    Role,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

const PLATFORM: &[Role] = &[Role::Platform];

#[derive(Debug, Clone)]
pub struct AdsApi {
    app: Arc<Ads>,
    /// R-ADS-14: the deployment's delivery window, which ExtendDelivery adds to.
    window_hours: u32,
    /// R-ADS-14: what the payment provider signs callbacks with.
    payment_secret: Option<String>,
}

impl AdsApi {
    pub fn new(app: Arc<Ads>, window_hours: u32, payment_secret: Option<String>) -> Self {
        Self {
            app,
            window_hours,
            payment_secret,
        }
    }

    /// Whether the orders read model holds an order under `order_id`: the
    /// fact PlaceOrder and RequestInvoice decide an archived id by.
    async fn on_record(&self, shop: &str, order_id: &str) -> Result<bool, Status> {
        Ok(self
            .app
            .on_record(shop, order_id)
            .await
            .map_err(to_status)?
            .is_some())
    }

    /// A manager's command on one order, answered with the order after it.
    async fn order_command<T>(
        &self,
        request: &Request<T>,
        (shop_id, order_id): (&str, &str),
        action: &str,
        command: impl Fn(sellerdesk_core::Instant) -> Command + Send + Sync,
    ) -> Result<pb::Order, Status> {
        let (caller, shop) = authorize(request, shop_id, MANAGERS, action)?;
        let (account, _) = self
            .app
            .execute(&shop, &command_metadata(&caller), command)
            .await
            .map_err(to_status)?;
        the_order(&account, order_id)
    }
}

use sellerdesk_runtime::errors::to_status;

fn enum_field<T>(
    value: Result<T, prost::UnknownEnumValue>,
    field: &str,
    allowed: &str,
) -> Result<T, Status> {
    value.map_err(|_| errors::invalid_argument(&[(field, allowed.into())]))
}

fn spec_from_pb(s: Option<pb::OrderSpec>) -> Result<OrderSpec, Status> {
    let s = s.ok_or_else(|| errors::invalid_argument(&[("spec", "required".into())]))?;
    let product = match pb::Product::try_from(s.product) {
        Ok(pb::Product::XiaodianSuixintui) | Ok(pb::Product::Unspecified) => {
            Product::XiaodianSuixintui
        }
        Ok(pb::Product::DouPlus) => Product::DouPlus,
        Err(_) => {
            return Err(errors::invalid_argument(&[(
                "spec.product",
                "小店随心推 or DOU+".into(),
            )]))
        }
    };
    let target = match s.target {
        Some(pb::order_spec::Target::Video(v)) => Target::Video {
            video_id: v.video_id,
            public: v.public,
            title: v.title,
            duration_secs: v.duration_secs,
            has_shop_cart: v.has_shop_cart,
        },
        Some(pb::order_spec::Target::LiveRoom(r)) => Target::LiveRoom { room_id: r.room_id },
        None => {
            return Err(errors::invalid_argument(&[(
                // `target` is a oneof, not a field: name its first member.
                "spec.video",
                "a video (spec.video) or a live room (spec.live_room)".into(),
            )]));
        }
    };
    use pb::Objective as O;
    let objective = match enum_field(
        O::try_from(s.objective),
        "spec.objective",
        "a known objective",
    )? {
        O::ProductPurchase => Objective::ProductPurchase,
        O::ContentSeeding => Objective::ContentSeeding,
        O::FollowersAndProfileViews => Objective::FollowersAndProfileViews,
        O::RoomPopularity => Objective::RoomPopularity,
        O::RoomProductClicks => Objective::RoomProductClicks,
        O::RoomSales => Objective::RoomSales,
        O::RoomFollowers => Objective::RoomFollowers,
        O::RoomComments => Objective::RoomComments,
        O::Unspecified => {
            return Err(errors::invalid_argument(&[(
                "spec.objective",
                "required (R-ADS-4)".into(),
            )]))
        }
    };
    let bid = match enum_field(
        pb::BidMode::try_from(s.bid_mode),
        "spec.bid_mode",
        "a known bid mode",
    )? {
        pb::BidMode::PerPlay => Bid::PerPlay,
        pb::BidMode::GoalManual => Bid::GoalManual { bid_fen: s.bid_fen },
        pb::BidMode::GoalAutomatic => Bid::GoalAutomatic,
        pb::BidMode::Unspecified => {
            return Err(errors::invalid_argument(&[(
                "spec.bid_mode",
                "required (R-ADS-5)".into(),
            )]))
        }
    };
    let payment = match enum_field(
        pb::PaymentMethod::try_from(s.payment),
        "spec.payment",
        "a known payment method",
    )? {
        pb::PaymentMethod::AccountBalance => PaymentMethod::AccountBalance,
        pb::PaymentMethod::DouyinPay => PaymentMethod::DouyinPay,
        pb::PaymentMethod::Alipay => PaymentMethod::Alipay,
        pb::PaymentMethod::WechatPay => PaymentMethod::WechatPay,
        pb::PaymentMethod::Unspecified => {
            return Err(errors::invalid_argument(&[(
                "spec.payment",
                "required".into(),
            )]))
        }
    };
    let t = s.targeting.unwrap_or_default();
    Ok(OrderSpec {
        product,
        target,
        objective,
        duration_hours: s.duration_hours,
        targeting: Targeting {
            genders: t.genders,
            age_bands: t.age_bands,
            regions: t.regions,
        },
        bid,
        amount_fen: s.amount_fen,
        payment,
    })
}

fn payment_pb(p: PaymentMethod) -> pb::PaymentMethod {
    match p {
        PaymentMethod::AccountBalance => pb::PaymentMethod::AccountBalance,
        PaymentMethod::DouyinPay => pb::PaymentMethod::DouyinPay,
        PaymentMethod::Alipay => pb::PaymentMethod::Alipay,
        PaymentMethod::WechatPay => pb::PaymentMethod::WechatPay,
    }
}

fn spec_pb(s: &OrderSpec) -> pb::OrderSpec {
    use pb::Objective as O;
    let (bid_mode, bid_fen) = match s.bid {
        Bid::PerPlay => (pb::BidMode::PerPlay, 0),
        Bid::GoalManual { bid_fen } => (pb::BidMode::GoalManual, bid_fen),
        Bid::GoalAutomatic => (pb::BidMode::GoalAutomatic, 0),
    };
    pb::OrderSpec {
        product: match s.product {
            Product::XiaodianSuixintui => pb::Product::XiaodianSuixintui,
            Product::DouPlus => pb::Product::DouPlus,
        } as i32,
        target: Some(match &s.target {
            Target::Video {
                video_id,
                public,
                title,
                duration_secs,
                has_shop_cart,
            } => pb::order_spec::Target::Video(pb::Video {
                video_id: video_id.clone(),
                public: *public,
                title: title.clone(),
                duration_secs: *duration_secs,
                has_shop_cart: *has_shop_cart,
            }),
            Target::LiveRoom { room_id } => pb::order_spec::Target::LiveRoom(pb::LiveRoom {
                room_id: room_id.clone(),
            }),
        }),
        objective: match s.objective {
            Objective::ProductPurchase => O::ProductPurchase,
            Objective::ContentSeeding => O::ContentSeeding,
            Objective::FollowersAndProfileViews => O::FollowersAndProfileViews,
            Objective::RoomPopularity => O::RoomPopularity,
            Objective::RoomProductClicks => O::RoomProductClicks,
            Objective::RoomSales => O::RoomSales,
            Objective::RoomFollowers => O::RoomFollowers,
            Objective::RoomComments => O::RoomComments,
        } as i32,
        duration_hours: s.duration_hours,
        targeting: Some(pb::Targeting {
            genders: s.targeting.genders.clone(),
            age_bands: s.targeting.age_bands.clone(),
            regions: s.targeting.regions.clone(),
        }),
        bid_mode: bid_mode as i32,
        bid_fen,
        amount_fen: s.amount_fen,
        payment: payment_pb(s.payment) as i32,
    }
}

fn stats_pb(s: &PaidStats) -> pb::PaidStats {
    pb::PaidStats {
        impressions: s.impressions,
        plays: s.plays,
        clicks: s.clicks,
        likes: s.likes,
        comments: s.comments,
        follows: s.follows,
        orders: s.orders,
    }
}

fn refund_pb(r: &Refund) -> pb::Refund {
    pb::Refund {
        amount_fen: r.amount_fen,
        to: payment_pb(r.to) as i32,
        due_by: Some(timestamp(r.due_by)),
    }
}

fn pending_top_up(account: &crate::domain::AdsAccount) -> i64 {
    account
        .pending_payments
        .values()
        .map(|(_, a)| *a)
        .fold(0, i64::saturating_add)
}

fn order_pb(o: &Order) -> pb::Order {
    let (status, reasons, run) = match &o.status {
        OrderStatus::PendingReview => (pb::OrderStatus::PendingReview, vec![], 0),
        OrderStatus::Rejected { reasons } => (pb::OrderStatus::Rejected, reasons.clone(), 0),
        OrderStatus::Delivering { .. } => (pb::OrderStatus::Delivering, vec![], 0),
        OrderStatus::Completed { run_secs } => (pb::OrderStatus::Completed, vec![], *run_secs),
        OrderStatus::Terminated => (pb::OrderStatus::Terminated, vec![], 0),
    };
    pb::Order {
        order_id: o.order_id.clone(),
        spec: Some(spec_pb(&o.spec)),
        status: status as i32,
        placed_at: Some(timestamp(o.placed_at)),
        spent_fen: o.spent_fen,
        stats: Some(stats_pb(&o.stats)),
        rejection_reasons: reasons,
        refund: o.refund.as_ref().map(refund_pb),
        actual_run_secs: run,
        extended_hours: o.extended_hours,
        invoice: o.invoice.as_ref().map(|(k, t, a)| pb::Invoice {
            kind: match k {
                InvoiceKind::Personal => pb::InvoiceKind::Personal,
                InvoiceKind::Company => pb::InvoiceKind::Company,
            } as i32,
            title: t.clone(),
            amount_fen: *a,
        }),
    }
}

fn subject_pb(s: &Subject) -> pb::Subject {
    pb::Subject {
        kind: Some(match s {
            Subject::Person { name } => pb::subject::Kind::Person(name.clone()),
            Subject::Company { name, certified } => pb::subject::Kind::Company(pb::Company {
                name: name.clone(),
                certified: *certified,
            }),
        }),
    }
}

fn the_order(account: &AdsAccount, id: &str) -> Result<pb::Order, Status> {
    account
        .orders
        .get(id)
        .map(order_pb)
        .ok_or_else(|| errors::not_found("order", id))
}

#[tonic::async_trait]
impl pb::ads_service_server::AdsService for AdsApi {
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "placing a promotion order",
        )?;
        let r = request.into_inner();
        let spec = spec_from_pb(r.spec)?;
        let advice = recommendations(&spec);
        let on_record = self.on_record(&shop, &r.order_id).await?;
        let (account, _) = self
            .app
            .execute(&shop, &command_metadata(&caller), |at| {
                Command::PlaceOrder {
                    order_id: r.order_id.clone(),
                    spec: spec.clone(),
                    at,
                    on_record,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::PlaceOrderResponse {
            order: Some(the_order(&account, &r.order_id)?),
            recommendations: advice,
        }))
    }

    async fn terminate_order(
        &self,
        request: Request<pb::TerminateOrderRequest>,
    ) -> Result<Response<pb::TerminateOrderResponse>, Status> {
        let order_id = request.get_ref().order_id.clone();
        let order = self
            .order_command(
                &request,
                (&request.get_ref().shop_id, &order_id),
                "stopping an order",
                |at| Command::TerminateOrder {
                    order_id: order_id.clone(),
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::TerminateOrderResponse {
            order: Some(order),
        }))
    }

    async fn add_budget(
        &self,
        request: Request<pb::AddBudgetRequest>,
    ) -> Result<Response<pb::AddBudgetResponse>, Status> {
        let (order_id, amount_fen) = (
            request.get_ref().order_id.clone(),
            request.get_ref().amount_fen,
        );
        let order = self
            .order_command(
                &request,
                (&request.get_ref().shop_id, &order_id),
                "adding budget",
                |at| Command::AddBudget {
                    order_id: order_id.clone(),
                    amount_fen,
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::AddBudgetResponse { order: Some(order) }))
    }

    async fn extend_delivery(
        &self,
        request: Request<pb::ExtendDeliveryRequest>,
    ) -> Result<Response<pb::ExtendDeliveryResponse>, Status> {
        let (order_id, hours) = (request.get_ref().order_id.clone(), request.get_ref().hours);
        let window_hours = self.window_hours;
        let order = self
            .order_command(
                &request,
                (&request.get_ref().shop_id, &order_id),
                "extending delivery",
                |at| Command::ExtendDelivery {
                    order_id: order_id.clone(),
                    hours,
                    window_hours,
                    at,
                },
            )
            .await?;
        Ok(Response::new(pb::ExtendDeliveryResponse {
            order: Some(order),
        }))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading an order",
        )?;
        let id = &request.get_ref().order_id;
        let account = self.app.load(&shop).await.map_err(to_status)?;
        // The account first: it reflects every acknowledged change. An
        // order it no longer holds was archived (decision 0022).
        let order = match account.orders.get(id) {
            Some(o) => order_pb(o),
            None => self
                .app
                .on_record(&shop, id)
                .await
                .map_err(to_status)?
                .map(|o| order_pb(&o))
                .ok_or_else(|| errors::not_found("order", id))?,
        };
        Ok(Response::new(pb::GetOrderResponse { order: Some(order) }))
    }

    async fn list_order_history(
        &self,
        request: Request<pb::ListOrderHistoryRequest>,
    ) -> Result<Response<pb::ListOrderHistoryResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "listing orders",
        )?;
        let page = Page::of(request.get_ref().page.as_ref())?;
        let mut orders = self
            .app
            .order_history(&shop, page.after_instant()?, page.read_ahead())
            .await
            .map_err(to_status)?;
        let next = page.trim(&mut orders, |o| {
            Cursor::after_instant(o.placed_at.timestamp_millis(), &o.order_id)
        });
        Ok(Response::new(pb::ListOrderHistoryResponse {
            orders: orders.iter().map(order_pb).collect(),
            page: next,
        }))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "listing orders",
        )?;
        let page = Page::of(request.get_ref().page.as_ref())?;
        let account = self.app.load(&shop).await.map_err(to_status)?;
        let (orders, next) = page.keyed(&account.orders, |_| true)?;
        Ok(Response::new(pb::ListOrdersResponse {
            orders: orders.into_iter().map(order_pb).collect(),
            page: next,
        }))
    }

    async fn decide_review(
        &self,
        request: Request<pb::DecideReviewRequest>,
    ) -> Result<Response<pb::DecideReviewResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "reviewing an order",
        )?;
        let r = request.into_inner();
        let (account, _) = self
            .app
            .execute(&shop, &command_metadata(&caller), |at| {
                Command::DecideReview {
                    order_id: r.order_id.clone(),
                    approve: r.approve,
                    reasons: r.reasons.clone(),
                    at,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DecideReviewResponse {
            order: Some(the_order(&account, &r.order_id)?),
        }))
    }

    async fn record_delivery(
        &self,
        request: Request<pb::RecordDeliveryRequest>,
    ) -> Result<Response<pb::RecordDeliveryResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "reporting delivery",
        )?;
        let r = request.into_inner();
        let s = r.stats.unwrap_or_default();
        let stats = PaidStats {
            impressions: s.impressions,
            plays: s.plays,
            clicks: s.clicks,
            likes: s.likes,
            comments: s.comments,
            follows: s.follows,
            orders: s.orders,
        };
        let (account, _) = self
            .app
            .execute(&shop, &command_metadata(&caller), |at| {
                Command::RecordDelivery {
                    order_id: r.order_id.clone(),
                    spent_fen: r.spent_fen,
                    stats,
                    at,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RecordDeliveryResponse {
            order: Some(the_order(&account, &r.order_id)?),
        }))
    }

    async fn report_shopping_cart_used(
        &self,
        request: Request<pb::ReportShoppingCartUsedRequest>,
    ) -> Result<Response<pb::ReportShoppingCartUsedResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "reporting a cart",
        )?;
        let room_id = request.into_inner().room_id;
        let (account, events) = self
            .app
            .execute(&shop, &command_metadata(&caller), |at| {
                Command::ReportShoppingCartUsed {
                    room_id: room_id.clone(),
                    at,
                }
            })
            .await
            .map_err(to_status)?;
        let terminated = events
            .iter()
            .filter_map(|e| match e {
                crate::domain::Event::DouPlusOrderTerminated { order_id, .. } => {
                    account.orders.get(order_id).map(order_pb)
                }
                _ => None,
            })
            .collect();
        Ok(Response::new(pb::ReportShoppingCartUsedResponse {
            terminated,
        }))
    }

    async fn request_invoice(
        &self,
        request: Request<pb::RequestInvoiceRequest>,
    ) -> Result<Response<pb::RequestInvoiceResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "requesting an invoice",
        )?;
        let r = request.into_inner();
        let kind = match pb::InvoiceKind::try_from(r.kind) {
            Ok(pb::InvoiceKind::Personal) => InvoiceKind::Personal,
            Ok(pb::InvoiceKind::Company) => InvoiceKind::Company,
            _ => {
                return Err(errors::invalid_argument(&[(
                    "kind",
                    "personal or company".into(),
                )]))
            }
        };
        let on_record = self.on_record(&shop, &r.order_id).await?;
        let (account, _) = self
            .app
            .execute(&shop, &command_metadata(&caller), |at| {
                Command::RequestInvoice {
                    order_id: r.order_id.clone(),
                    kind,
                    title: r.title.clone(),
                    at,
                    on_record,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RequestInvoiceResponse {
            invoice: the_order(&account, &r.order_id)?.invoice,
        }))
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
        let (account, _) = self
            .app
            .execute(&shop, &command_metadata(&caller), |at| {
                Command::SetTimeZone {
                    time_zone: time_zone.clone(),
                    at,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetTimeZoneResponse {
            time_zone: account.zone().name().to_owned(),
        }))
    }

    async fn set_account_subject(
        &self,
        request: Request<pb::SetAccountSubjectRequest>,
    ) -> Result<Response<pb::SetAccountSubjectResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "qualifying an account",
        )?;
        let subject = match request.into_inner().subject.and_then(|s| s.kind) {
            Some(pb::subject::Kind::Person(name)) => Subject::Person { name },
            Some(pb::subject::Kind::Company(c)) => Subject::Company {
                name: c.name,
                certified: c.certified,
            },
            None => {
                return Err(errors::invalid_argument(&[(
                    "subject",
                    "a person or a company".into(),
                )]))
            }
        };
        self.app
            .execute(&shop, &command_metadata(&caller), |_| Command::SetSubject {
                subject: subject.clone(),
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetAccountSubjectResponse {}))
    }

    async fn move_funds(
        &self,
        request: Request<pb::MoveFundsRequest>,
    ) -> Result<Response<pb::MoveFundsResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "moving funds",
        )?;
        let r = request.into_inner();
        let movement = match pb::FundsMovement::try_from(r.movement) {
            Ok(pb::FundsMovement::TopUp) => FundsMove::TopUp,
            Ok(pb::FundsMovement::Withdraw) => FundsMove::Withdraw,
            Ok(pb::FundsMovement::CompanyTopUp) => FundsMove::CompanyTopUp,
            _ => {
                return Err(errors::invalid_argument(&[(
                    "movement",
                    "top-up, withdraw or company top-up".into(),
                )]))
            }
        };
        let channel = match pb::Channel::try_from(r.channel) {
            Ok(pb::Channel::Mobile) => Channel::Mobile,
            Ok(pb::Channel::Pc) => Channel::Pc,
            _ => {
                return Err(errors::invalid_argument(&[(
                    "channel",
                    "mobile or PC".into(),
                )]))
            }
        };
        let (account, _) = self
            .app
            .execute(&shop, &command_metadata(&caller), |at| Command::MoveFunds {
                movement,
                amount_fen: r.amount_fen,
                channel,
                payment_id: r.payment_id.clone(),
                at,
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::MoveFundsResponse {
            balance_fen: account.balance_fen,
            pending_top_up_fen: pending_top_up(&account),
        }))
    }

    async fn confirm_payment(
        &self,
        request: Request<pb::ConfirmPaymentRequest>,
    ) -> Result<Response<pb::ConfirmPaymentResponse>, Status> {
        let (caller, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            PLATFORM,
            "confirming a payment",
        )?;
        let r = request.into_inner();
        let Some(secret) = &self.payment_secret else {
            return Err(Status::failed_precondition(
                "no payment provider is configured (ads_payment_secret): top-ups stay pending",
            ));
        };
        if !crate::payments::verify(
            secret,
            &shop,
            &r.payment_id,
            r.amount_fen,
            r.succeeded,
            &r.signature,
        ) {
            return Err(Status::permission_denied(
                "the callback's signature does not check",
            ));
        }
        let (account, _) = self
            .app
            .execute(&shop, &command_metadata(&caller), |at| {
                Command::ConfirmPayment {
                    payment_id: r.payment_id.clone(),
                    amount_fen: r.amount_fen,
                    succeeded: r.succeeded,
                    at,
                }
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ConfirmPaymentResponse {
            balance_fen: account.balance_fen,
            pending_top_up_fen: pending_top_up(&account),
        }))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let (_, shop) = authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading the account",
        )?;
        let account = self.app.load(&shop).await.map_err(to_status)?;
        Ok(Response::new(pb::GetAccountResponse {
            balance_fen: account.balance_fen,
            subject: account.subject.as_ref().map(subject_pb),
            may_place_orders: !account.selling_rights_revoked
                && account
                    .penalties
                    .in_force(self.app.now(), crate::domain::MEASURES_BLOCKING_ORDERS)
                    .is_none(),
            pending_top_up_fen: pending_top_up(&account),
            time_zone: account.zone().name().to_owned(),
        }))
    }
}
