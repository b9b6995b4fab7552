//! The public API (`sellerdesk.faq.v1`) mapped onto [`Faq`]. Permissions live
//! here: owner and admin change, every role of the shop reads and uses
//! (R-FAQ-4), another shop sees nothing (R-X-1).

use crate::{
    app::{Faq, Freshness, Target},
    domain::{analytics, Category, Command, Entry, EntryContent},
    matcher::Scored,
};
use sellerdesk_api::faq::v1 as pb;
use sellerdesk_runtime::page::{Cursor, Page};
use sellerdesk_runtime::{
    errors,
    wire::{authorize, check_shop_id, command_metadata, instant, timestamp, ANY_ROLE, MANAGERS},
    Caller, Role,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

const DEFAULT_TOP_K: u32 = 3;
const MAX_TOP_K: u32 = 20;
const MAX_QUERY_CHARS: usize = 500;
const MAX_CONVERSATION_ID: usize = 128;

#[derive(Debug, Clone)]
pub struct FaqApi {
    app: Arc<Faq>,
}

impl FaqApi {
    pub fn new(app: Arc<Faq>) -> Self {
        Self { app }
    }
}

use sellerdesk_runtime::errors::to_status;

fn category_from_pb(c: i32, field: &str) -> Result<Category, Status> {
    match pb::Category::try_from(c) {
        Ok(pb::Category::Greeting) => Ok(Category::Greeting),
        Ok(pb::Category::PreSale) => Ok(Category::PreSale),
        Ok(pb::Category::Logistics) => Ok(Category::Logistics),
        Ok(pb::Category::AfterSale) => Ok(Category::AfterSale),
        Ok(pb::Category::Other) => Ok(Category::Other),
        _ => Err(errors::invalid_argument(&[(
            field,
            "one of greeting, pre-sale, logistics, after-sale, other".into(),
        )])),
    }
}

fn category_pb(c: Category) -> pb::Category {
    match c {
        Category::Greeting => pb::Category::Greeting,
        Category::PreSale => pb::Category::PreSale,
        Category::Logistics => pb::Category::Logistics,
        Category::AfterSale => pb::Category::AfterSale,
        Category::Other => pb::Category::Other,
    }
}

fn content_from_pb(c: Option<pb::EntryContent>) -> Result<EntryContent, Status> {
    let c = c.ok_or_else(|| errors::invalid_argument(&[("content", "required".into())]))?;
    Ok(EntryContent {
        category: category_from_pb(c.category, "content.category")?,
        standard_question: c.standard_question,
        similar_questions: c.similar_questions,
        answer: c.answer,
        enabled: c.enabled,
    })
}

fn entry_pb(e: &Entry) -> pb::Entry {
    pb::Entry {
        entry_id: e.id.clone(),
        content: Some(pb::EntryContent {
            standard_question: e.content.standard_question.clone(),
            similar_questions: e.content.similar_questions.clone(),
            answer: e.content.answer.clone(),
            category: category_pb(e.content.category) as i32,
            enabled: e.content.enabled,
        }),
        preset_key: e.preset_key.clone().unwrap_or_default(),
        revision: e.revision,
    }
}

fn candidate_pb(s: &Scored, e: &Entry) -> pb::Candidate {
    pb::Candidate {
        entry_id: e.id.clone(),
        standard_question: e.content.standard_question.clone(),
        answer: e.content.answer.clone(),
        confidence: s.confidence,
        matched_question: s.matched_question.clone(),
        category: category_pb(e.content.category) as i32,
    }
}

fn check_entry_id(id: &str) -> Result<(), Status> {
    if id.is_empty() {
        return Err(errors::invalid_argument(&[("entry_id", "required".into())]));
    }
    Ok(())
}

/// A question's text, named by the request's own `field` (`query`, `search`).
fn check_query(field: &str, query: &str) -> Result<(), Status> {
    if query.trim().is_empty() {
        return Err(errors::invalid_argument(&[(
            field,
            "must not be empty".into(),
        )]));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(errors::invalid_argument(&[(
            field,
            format!("at most {MAX_QUERY_CHARS} characters"),
        )]));
    }
    Ok(())
}

fn check_conversation_id(id: &str) -> Result<(), Status> {
    if id.len() > MAX_CONVERSATION_ID {
        return Err(errors::invalid_argument(&[(
            "conversation_id",
            format!("at most {MAX_CONVERSATION_ID} bytes"),
        )]));
    }
    Ok(())
}

/// The knowledge base a read or match is about. The help centre is the
/// platform's and every authenticated caller may read it (R-FAQ-9); what a
/// shop asks of it is that shop's own (R-X-1): a shop role asks and reads
/// as its own shop (another shop's id is NOT_FOUND), the platform reads the
/// aggregate, or one shop's questions when it names the shop.
fn target<T>(request: &Request<T>, shop_id: &str, kb: i32) -> Result<(Caller, Target), Status> {
    match pb::KnowledgeBase::try_from(kb) {
        Ok(pb::KnowledgeBase::HelpCentre) => {
            let caller = Caller::of(request)?;
            let asker = match caller.role() {
                Role::Platform if shop_id.is_empty() => None,
                _ => {
                    let shop = caller.shop(shop_id, "shop_id")?;
                    check_shop_id(&shop)?;
                    Some(shop)
                }
            };
            Ok((caller, Target::HelpCentre { asker }))
        }
        Ok(pb::KnowledgeBase::Unspecified | pb::KnowledgeBase::Shop) => {
            let (caller, shop) = authorize(request, shop_id, ANY_ROLE, "reading the FAQ")?;
            Ok((caller, Target::Shop(shop)))
        }
        Err(_) => Err(errors::invalid_argument(&[(
            "knowledge_base",
            "unknown knowledge base".into(),
        )])),
    }
}

/// R-FAQ-4: the shop's managers change it.
fn manage<T>(
    request: &Request<T>,
    shop_id: &str,
    action: &str,
) -> Result<(Caller, Target), Status> {
    let (caller, shop) = authorize(request, shop_id, MANAGERS, action)?;
    Ok((caller, Target::Shop(shop)))
}

fn window(w: Option<pb::Window>) -> Result<analytics::Window, Status> {
    let Some(w) = w else {
        return Ok(analytics::Window::default());
    };
    let window = analytics::Window {
        from: w
            .from
            .as_ref()
            .map(|t| instant(t, "window.from"))
            .transpose()?,
        to: w.to.as_ref().map(|t| instant(t, "window.to")).transpose()?,
    };
    if let (Some(f), Some(t)) = (window.from, window.to) {
        if f > t {
            return Err(errors::invalid_argument(&[(
                "window.to",
                "must not be before window.from".into(),
            )]));
        }
    }
    Ok(window)
}

impl FaqApi {
    async fn entry_after(&self, target: &Target, id: &str) -> Result<pb::Entry, Status> {
        self.app
            .read(target, |l| l.kb.entries.get(id).map(entry_pb))
            .await
            .map_err(to_status)?
            .ok_or_else(|| errors::not_found("entry", id))
    }

    async fn cards(&self, target: &Target) -> Result<Vec<pb::FaqCard>, Status> {
        self.app
            .read(target, |l| {
                l.kb.visible_cards()
                    .into_iter()
                    .map(|e| pb::FaqCard {
                        entry_id: e.id.clone(),
                        question: e.content.standard_question.clone(),
                    })
                    .collect()
            })
            .await
            .map_err(to_status)
    }
}

#[tonic::async_trait]
impl pb::faq_service_server::FaqService for FaqApi {
    async fn create_entry(
        &self,
        request: Request<pb::CreateEntryRequest>,
    ) -> Result<Response<pb::CreateEntryResponse>, Status> {
        let (caller, target) = manage(&request, &request.get_ref().shop_id, "creating entries")?;
        let req = request.into_inner();
        let content = content_from_pb(req.content)?;
        let id = if req.entry_id.is_empty() {
            uuid::Uuid::now_v7().to_string()
        } else {
            req.entry_id
        };
        let command = Command::CreateEntry {
            id: id.clone(),
            content,
        };
        self.app
            .execute(&target, command, &command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreateEntryResponse {
            entry: Some(self.entry_after(&target, &id).await?),
        }))
    }

    async fn update_entry(
        &self,
        request: Request<pb::UpdateEntryRequest>,
    ) -> Result<Response<pb::UpdateEntryResponse>, Status> {
        let (caller, target) = manage(&request, &request.get_ref().shop_id, "editing entries")?;
        let req = request.into_inner();
        check_entry_id(&req.entry_id)?;
        let command = Command::EditEntry {
            id: req.entry_id.clone(),
            content: content_from_pb(req.content)?,
        };
        self.app
            .execute(&target, command, &command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::UpdateEntryResponse {
            entry: Some(self.entry_after(&target, &req.entry_id).await?),
        }))
    }

    async fn delete_entry(
        &self,
        request: Request<pb::DeleteEntryRequest>,
    ) -> Result<Response<pb::DeleteEntryResponse>, Status> {
        let (caller, target) = manage(&request, &request.get_ref().shop_id, "deleting entries")?;
        let req = request.into_inner();
        check_entry_id(&req.entry_id)?;
        self.app
            .execute(
                &target,
                Command::DeleteEntry { id: req.entry_id },
                &command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DeleteEntryResponse {}))
    }

    async fn reset_entry(
        &self,
        request: Request<pb::ResetEntryRequest>,
    ) -> Result<Response<pb::ResetEntryResponse>, Status> {
        let (caller, target) = manage(&request, &request.get_ref().shop_id, "resetting entries")?;
        let req = request.into_inner();
        check_entry_id(&req.entry_id)?;
        let command = Command::ResetEntry {
            id: req.entry_id.clone(),
            presets: self.app.presets().clone(),
        };
        self.app
            .execute(&target, command, &command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ResetEntryResponse {
            entry: Some(self.entry_after(&target, &req.entry_id).await?),
        }))
    }

    async fn get_entry(
        &self,
        request: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::GetEntryResponse>, Status> {
        let req = request.get_ref();
        let (_, target) = target(&request, &req.shop_id, req.knowledge_base)?;
        check_entry_id(&req.entry_id)?;
        Ok(Response::new(pb::GetEntryResponse {
            entry: Some(self.entry_after(&target, &req.entry_id).await?),
        }))
    }

    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let req = request.get_ref();
        let (_, target) = target(&request, &req.shop_id, req.knowledge_base)?;
        let page = Page::of(req.page.as_ref())?;
        let size = page.size;
        let category = match req.category {
            0 => None,
            c => Some(category_from_pb(c, "category")?),
        };
        if req.search.chars().count() > MAX_QUERY_CHARS {
            check_query("search", &req.search)?;
        }
        // Ranked results page by offset, id order pages by the last id seen.
        let (entries, next) = if req.search.trim().is_empty() {
            self.app
                .read(&target, |l| {
                    page.keyed(&l.kb.entries, |e| {
                        category.is_none_or(|c| e.content.category == c)
                    })
                    .map(|(entries, next)| (entries.into_iter().map(entry_pb).collect(), next))
                })
                .await
                .map_err(to_status)??
        } else {
            let offset = usize::try_from(page.offset()?.1).unwrap_or(usize::MAX);
            let (ranked, _) = self
                .app
                .rank(
                    &target,
                    &req.search,
                    offset.saturating_add(size + 1),
                    Freshness::Head,
                )
                .await
                .map_err(to_status)?;
            let mut out: Vec<pb::Entry> = ranked
                .iter()
                .map(|(_, e)| e)
                .filter(|e| category.is_none_or(|c| e.content.category == c))
                .skip(offset)
                .map(entry_pb)
                .collect();
            let next = page.trim(&mut out, |_| Cursor::Offset {
                anchor: 0,
                offset: (offset + size) as u64,
            });
            (out, next)
        };
        Ok(Response::new(pb::ListEntriesResponse {
            entries,
            page: next,
        }))
    }

    async fn get_greeting(
        &self,
        request: Request<pb::GetGreetingRequest>,
    ) -> Result<Response<pb::GetGreetingResponse>, Status> {
        let (_, target) = target(&request, &request.get_ref().shop_id, 0)?;
        let greeting = self
            .app
            .read(&target, |l| l.kb.greeting.clone())
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetGreetingResponse {
            greeting,
            cards: self.cards(&target).await?,
            card_limit: self.app.limits().max_cards as u32,
        }))
    }

    async fn set_greeting(
        &self,
        request: Request<pb::SetGreetingRequest>,
    ) -> Result<Response<pb::SetGreetingResponse>, Status> {
        let (caller, target) =
            manage(&request, &request.get_ref().shop_id, "setting the greeting")?;
        let text = request.into_inner().greeting;
        self.app
            .execute(
                &target,
                Command::SetGreeting { text },
                &command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetGreetingResponse {}))
    }

    async fn set_cards(
        &self,
        request: Request<pb::SetCardsRequest>,
    ) -> Result<Response<pb::SetCardsResponse>, Status> {
        let (caller, target) = manage(&request, &request.get_ref().shop_id, "arranging FAQ cards")?;
        let entry_ids = request.into_inner().entry_ids;
        self.app
            .execute(
                &target,
                Command::ArrangeCards { entry_ids },
                &command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetCardsResponse {
            cards: self.cards(&target).await?,
        }))
    }

    async fn tap_card(
        &self,
        request: Request<pb::TapCardRequest>,
    ) -> Result<Response<pb::TapCardResponse>, Status> {
        let (caller, target) = target(&request, &request.get_ref().shop_id, 0)?;
        let req = request.into_inner();
        check_entry_id(&req.entry_id)?;
        check_conversation_id(&req.conversation_id)?;
        let entry = self
            .app
            .tap_card(
                &target,
                &req.entry_id,
                &req.conversation_id,
                &command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::TapCardResponse {
            entry_id: entry.id,
            answer: entry.content.answer,
        }))
    }

    async fn r#match(
        &self,
        request: Request<pb::MatchRequest>,
    ) -> Result<Response<pb::MatchResponse>, Status> {
        let req = request.get_ref();
        let (caller, target) = target(&request, &req.shop_id, req.knowledge_base)?;
        let req = request.into_inner();
        check_query("query", &req.query)?;
        check_conversation_id(&req.conversation_id)?;
        let outcome = self
            .app
            .answer(
                &target,
                &req.query,
                &req.conversation_id,
                &command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::MatchResponse {
            auto_answer: outcome.auto_answer,
            best: outcome.best.as_ref().map(|(s, e)| candidate_pb(s, e)),
            threshold: outcome.threshold,
        }))
    }

    async fn assist_reply(
        &self,
        request: Request<pb::AssistReplyRequest>,
    ) -> Result<Response<pb::AssistReplyResponse>, Status> {
        let req = request.get_ref();
        let (_, target) = target(&request, &req.shop_id, req.knowledge_base)?;
        let req = request.into_inner();
        check_query("query", &req.query)?;
        let k = match req.top_k {
            0 => DEFAULT_TOP_K,
            k if k > MAX_TOP_K => {
                return Err(errors::invalid_argument(&[(
                    "top_k",
                    format!("at most {MAX_TOP_K}"),
                )]))
            }
            k => k,
        };
        let (ranked, _) = self
            .app
            .rank(&target, &req.query, k as usize, Freshness::Followed)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::AssistReplyResponse {
            candidates: ranked.iter().map(|(s, e)| candidate_pb(s, e)).collect(),
        }))
    }

    async fn get_match_settings(
        &self,
        request: Request<pb::GetMatchSettingsRequest>,
    ) -> Result<Response<pb::GetMatchSettingsResponse>, Status> {
        let (_, target) = target(&request, &request.get_ref().shop_id, 0)?;
        let threshold = self
            .app
            .read(&target, |l| l.kb.threshold())
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetMatchSettingsResponse { threshold }))
    }

    async fn set_match_settings(
        &self,
        request: Request<pb::SetMatchSettingsRequest>,
    ) -> Result<Response<pb::SetMatchSettingsResponse>, Status> {
        let (caller, target) = manage(
            &request,
            &request.get_ref().shop_id,
            "setting the match threshold",
        )?;
        let threshold = request.into_inner().threshold;
        self.app
            .execute(
                &target,
                Command::SetThreshold { threshold },
                &command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetMatchSettingsResponse { threshold }))
    }

    async fn get_entry_hits(
        &self,
        request: Request<pb::GetEntryHitsRequest>,
    ) -> Result<Response<pb::GetEntryHitsResponse>, Status> {
        let req = request.get_ref();
        let (_, target) = target(&request, &req.shop_id, req.knowledge_base)?;
        let window = window(req.window)?;
        let hits = self
            .app
            .summarise_interactions(&target, window)
            .await
            .map_err(to_status)?
            .entries;
        let mut entries = self
            .app
            .read(&target, |l| {
                hits.iter()
                    .map(|(id, h)| pb::EntryHits {
                        entry_id: id.clone(),
                        standard_question: l
                            .kb
                            .entries
                            .get(id)
                            .map(|e| e.content.standard_question.clone())
                            .unwrap_or_default(),
                        auto_answers: h.auto_answers,
                        card_taps: h.card_taps,
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(to_status)?;
        entries.sort_by(|a, b| {
            (b.auto_answers + b.card_taps)
                .cmp(&(a.auto_answers + a.card_taps))
                .then_with(|| a.entry_id.cmp(&b.entry_id))
        });
        Ok(Response::new(pb::GetEntryHitsResponse { entries }))
    }

    async fn get_answer_rate(
        &self,
        request: Request<pb::GetAnswerRateRequest>,
    ) -> Result<Response<pb::GetAnswerRateResponse>, Status> {
        let req = request.get_ref();
        let (_, target) = target(&request, &req.shop_id, req.knowledge_base)?;
        let window = window(req.window)?;
        let r = self
            .app
            .summarise_interactions(&target, window)
            .await
            .map_err(to_status)?
            .answer_rate();
        Ok(Response::new(pb::GetAnswerRateResponse {
            questions: r.questions,
            auto_answered: r.auto_answered,
            missed: r.missed,
            card_taps: r.card_taps,
            answer_rate: r.rate,
        }))
    }

    async fn list_unanswered_questions(
        &self,
        request: Request<pb::ListUnansweredQuestionsRequest>,
    ) -> Result<Response<pb::ListUnansweredQuestionsResponse>, Status> {
        let req = request.get_ref();
        let (_, target) = target(&request, &req.shop_id, req.knowledge_base)?;
        let window = window(req.window)?;
        let limit = match req.limit {
            0 => 20,
            n if n > 200 => {
                return Err(errors::invalid_argument(&[("limit", "at most 200".into())]))
            }
            n => n as usize,
        };
        let analyzer = self.app.analyzer().clone();
        let groups = self
            .app
            .summarise_interactions(&target, window)
            .await
            .map_err(to_status)?
            .unanswered_groups(|q: &str| analyzer.canonical_text(q), limit);
        Ok(Response::new(pb::ListUnansweredQuestionsResponse {
            groups: groups
                .into_iter()
                .map(|g| pb::UnansweredGroup {
                    representative: g.representative,
                    count: g.count,
                    wordings: g
                        .examples
                        .into_iter()
                        .map(|(text, count)| pb::UnansweredWording { text, count })
                        .collect(),
                    last_asked_at: Some(timestamp(g.last_asked_at)),
                })
                .collect(),
        }))
    }
}
