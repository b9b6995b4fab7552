//! The pure FAQ domain: no I/O, no async, no clock. A shop's knowledge base is
//! a fold of its events ([`KnowledgeBase::apply`]); [`decide`] turns a command
//! into events or refuses it.
//!
//! Where each rule lives:
//! - R-FAQ-1 entry shape and its validation: [`EntryContent`], [`validate_content`]
//! - R-FAQ-2 categories: [`Category`]
//! - R-FAQ-3 presets, a shop's own copy, reset: [`crate::presets`], [`Command::InstallPresets`], [`Command::ResetEntry`]
//! - R-FAQ-4 who may change what: [`Command::needs_manager`] (enforced in the gRPC layer)
//! - R-FAQ-5 greeting and ordered cards: [`Command::SetGreeting`], [`Command::ArrangeCards`]
//! - R-FAQ-6, R-FAQ-7 matching: [`crate::matcher`] (the threshold is [`KnowledgeBase::threshold`])
//! - R-FAQ-8 interactions and their figures: [`analytics`]

pub mod analytics;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An instant: UTC (R-X-3).
pub type Instant = chrono::DateTime<chrono::Utc>;

/// Limits an operator may change; the numbers here are the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// R-FAQ-5: how many FAQ cards a shop may show.
    pub max_cards: usize,
    pub max_question_chars: usize,
    pub max_answer_chars: usize,
    pub max_similar_questions: usize,
    pub max_greeting_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_cards: 10,
            max_question_chars: 200,
            max_answer_chars: 2000,
            max_similar_questions: 50,
            max_greeting_chars: 500,
        }
    }
}

/// R-FAQ-7: the confidence below which nothing is answered automatically,
/// unless the shop sets its own. Chosen on the development evaluation sets
/// (see docs/faq-matching.md).
pub const DEFAULT_THRESHOLD: f64 = 0.83;

/// R-FAQ-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 日常问候
    Greeting,
    /// 售前问题
    PreSale,
    /// 物流问题
    Logistics,
    /// 售后问题
    AfterSale,
    /// 其它
    Other,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Greeting,
        Category::PreSale,
        Category::Logistics,
        Category::AfterSale,
        Category::Other,
    ];

    /// The category's name in words, as the matcher reads it.
    pub fn label(self) -> &'static str {
        match self {
            Category::Greeting => "日常问候",
            Category::PreSale => "售前问题",
            Category::Logistics => "物流问题",
            Category::AfterSale => "售后问题",
            Category::Other => "其它问题",
        }
    }
}

/// R-FAQ-1: what a shop writes for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryContent {
    pub standard_question: String,
    #[serde(default)]
    pub similar_questions: Vec<String>,
    pub answer: String,
    pub category: Category,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl EntryContent {
    /// The standard question first, then the similar ones.
    pub fn questions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.standard_question.as_str())
            .chain(self.similar_questions.iter().map(String::as_str))
    }
}

/// An entry of a shop's knowledge base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    #[serde(flatten)]
    pub content: EntryContent,
    /// The platform preset this entry was copied from (R-FAQ-3), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_key: Option<String>,
    /// Bumped by every edit, so a client can tell it is looking at the latest.
    #[serde(default)]
    pub revision: u32,
}

/// The platform's preset set at one version (R-FAQ-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetSet {
    pub version: String,
    pub greeting: String,
    /// Preset keys shown as cards, in order.
    pub cards: Vec<String>,
    pub entries: Vec<PresetEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetEntry {
    pub key: String,
    #[serde(flatten)]
    pub content: EntryContent,
}

impl PresetSet {
    pub fn entry(&self, key: &str) -> Option<&PresetEntry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The id a preset entry has in every shop's copy.
    pub fn entry_id(key: &str) -> String {
        format!("preset-{key}")
    }
}

/// Every change to a shop's knowledge base, as a past-tense fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// R-FAQ-3: a new shop starts from the platform presets.
    PresetsInstalled {
        version: String,
        greeting: String,
        entries: Vec<Entry>,
        cards: Vec<String>,
    },
    EntryCreated {
        entry: Entry,
    },
    EntryEdited {
        id: String,
        content: EntryContent,
    },
    EntryDeleted {
        id: String,
    },
    /// R-FAQ-3: the shop's copy of a preset goes back to the platform's text.
    EntryResetToPreset {
        id: String,
        preset_version: String,
        content: EntryContent,
    },
    GreetingSet {
        text: String,
    },
    /// R-FAQ-5: the complete ordered list after the change.
    CardsArranged {
        entry_ids: Vec<String>,
    },
    /// R-FAQ-7.
    MatchThresholdSet {
        threshold: f64,
    },
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::PresetsInstalled { .. } => "PresetsInstalled",
            Event::EntryCreated { .. } => "EntryCreated",
            Event::EntryEdited { .. } => "EntryEdited",
            Event::EntryDeleted { .. } => "EntryDeleted",
            Event::EntryResetToPreset { .. } => "EntryResetToPreset",
            Event::GreetingSet { .. } => "GreetingSet",
            Event::CardsArranged { .. } => "CardsArranged",
            Event::MatchThresholdSet { .. } => "MatchThresholdSet",
        }
    }

    /// The entries whose matching text may have changed (the index follows these).
    pub fn touched_entries(&self) -> Vec<&str> {
        match self {
            Event::PresetsInstalled { entries, .. } => {
                entries.iter().map(|e| e.id.as_str()).collect()
            }
            Event::EntryCreated { entry } => vec![entry.id.as_str()],
            Event::EntryEdited { id, .. }
            | Event::EntryDeleted { id }
            | Event::EntryResetToPreset { id, .. } => vec![id.as_str()],
            _ => Vec::new(),
        }
    }
}

/// A shop's knowledge base: the fold of its events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KnowledgeBase {
    /// Events folded so far (the stream version).
    pub version: i64,
    pub presets_version: Option<String>,
    pub entries: BTreeMap<String, Entry>,
    pub greeting: String,
    pub cards: Vec<String>,
    /// None: [`DEFAULT_THRESHOLD`].
    pub threshold: Option<f64>,
}

impl KnowledgeBase {
    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::PresetsInstalled {
                version,
                greeting,
                entries,
                cards,
            } => {
                self.presets_version = Some(version.clone());
                self.greeting = greeting.clone();
                for e in entries {
                    self.entries.insert(e.id.clone(), e.clone());
                }
                self.cards = cards.clone();
            }
            Event::EntryCreated { entry } => {
                self.entries.insert(entry.id.clone(), entry.clone());
            }
            Event::EntryEdited { id, content } | Event::EntryResetToPreset { id, content, .. } => {
                if let Some(e) = self.entries.get_mut(id) {
                    e.content = content.clone();
                    e.revision += 1;
                }
            }
            Event::EntryDeleted { id } => {
                self.entries.remove(id);
                // R-FAQ-5: a card never points at a deleted entry.
                self.cards.retain(|c| c != id);
            }
            Event::GreetingSet { text } => self.greeting = text.clone(),
            Event::CardsArranged { entry_ids } => self.cards = entry_ids.clone(),
            Event::MatchThresholdSet { threshold } => self.threshold = Some(*threshold),
        }
    }

    pub fn threshold(&self) -> f64 {
        self.threshold.unwrap_or(DEFAULT_THRESHOLD)
    }

    /// R-FAQ-5: the cards a buyer sees: disabled entries are skipped, order kept.
    pub fn visible_cards(&self) -> Vec<&Entry> {
        self.cards
            .iter()
            .filter_map(|id| self.entries.get(id))
            .filter(|e| e.content.enabled)
            .collect()
    }
}

pub fn evolve(mut state: KnowledgeBase, event: &Event) -> KnowledgeBase {
    state.apply(event);
    state
}

/// What a shop's staff (or the platform, for presets) asks of its knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// R-FAQ-3: first touch of a shop. A no-op once installed.
    InstallPresets {
        presets: PresetSet,
    },
    /// `id` is chosen by the caller (idempotent retries) or by the application.
    CreateEntry {
        id: String,
        content: EntryContent,
    },
    EditEntry {
        id: String,
        content: EntryContent,
    },
    DeleteEntry {
        id: String,
    },
    ResetEntry {
        id: String,
        presets: PresetSet,
    },
    SetGreeting {
        text: String,
    },
    ArrangeCards {
        entry_ids: Vec<String>,
    },
    SetThreshold {
        threshold: f64,
    },
}

impl Command {
    /// R-FAQ-4: every change but the automatic preset installation needs the
    /// owner or an admin.
    pub fn needs_manager(&self) -> bool {
        !matches!(self, Command::InstallPresets { .. })
    }
}

/// Why a command was refused; each maps to one gRPC code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// INVALID_ARGUMENT, naming each bad field.
    #[error("invalid argument: {0:?}")]
    Invalid(Vec<(String, String)>),
    /// NOT_FOUND.
    #[error("entry {0:?} not found")]
    EntryNotFound(String),
    /// ALREADY_EXISTS: the id is taken by an entry with other content.
    #[error("entry {0:?} already exists with other content")]
    EntryExists(String),
    /// FAILED_PRECONDITION: reset asked of an entry the shop wrote itself.
    #[error("entry {0:?} was not copied from a platform preset")]
    NotAPreset(String),
}

/// Each refusal as the shared kind (and so its gRPC code).
impl From<DomainError> for sellerdesk_core::Refusal {
    fn from(d: DomainError) -> Self {
        use sellerdesk_core::Refusal;
        let why = d.to_string();
        match d {
            DomainError::Invalid(fields) => Refusal::Invalid(fields),
            DomainError::EntryNotFound(id) => Refusal::NotFound { kind: "entry", id },
            DomainError::EntryExists(id) => Refusal::AlreadyExists { kind: "entry", id },
            DomainError::NotAPreset(id) => Refusal::precondition("NOT_A_PRESET", &id, why),
        }
    }
}

/// R-FAQ-1: the checks every entry passes, each bad field named under `prefix`.
pub fn validate_content(
    content: &EntryContent,
    limits: &Limits,
    prefix: &str,
) -> Vec<(String, String)> {
    let mut bad = Vec::new();
    let mut question = |field: String, text: &str| {
        if text.trim().is_empty() {
            bad.push((field, "must not be empty".to_owned()));
        } else if text.chars().count() > limits.max_question_chars {
            bad.push((
                field,
                format!("at most {} characters", limits.max_question_chars),
            ));
        }
    };
    question(
        format!("{prefix}standard_question"),
        &content.standard_question,
    );
    for (i, q) in content.similar_questions.iter().enumerate() {
        question(format!("{prefix}similar_questions[{i}]"), q);
    }
    if content.similar_questions.len() > limits.max_similar_questions {
        bad.push((
            format!("{prefix}similar_questions"),
            format!("at most {} similar questions", limits.max_similar_questions),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, q) in content.questions().enumerate() {
        if !q.trim().is_empty() && !seen.insert(q.trim()) {
            bad.push((
                format!("{prefix}similar_questions[{}]", i - 1),
                "repeats a question of this entry".to_owned(),
            ));
        }
    }
    if content.answer.trim().is_empty() {
        bad.push((format!("{prefix}answer"), "must not be empty".to_owned()));
    } else if content.answer.chars().count() > limits.max_answer_chars {
        bad.push((
            format!("{prefix}answer"),
            format!("at most {} characters", limits.max_answer_chars),
        ));
    }
    bad
}

/// Turns a command into the events it causes, or refuses it. `limits` are the
/// operator's; nothing here reads a clock or a database.
pub fn decide(
    state: &KnowledgeBase,
    command: &Command,
    limits: &Limits,
) -> Result<Vec<Event>, DomainError> {
    let invalid = |field: &str, why: &str| {
        Err(DomainError::Invalid(vec![(
            field.to_owned(),
            why.to_owned(),
        )]))
    };
    match command {
        Command::InstallPresets { presets } => {
            if state.presets_version.is_some() || state.version > 0 {
                return Ok(Vec::new());
            }
            let entries = presets
                .entries
                .iter()
                .map(|p| Entry {
                    id: PresetSet::entry_id(&p.key),
                    content: p.content.clone(),
                    preset_key: Some(p.key.clone()),
                    revision: 0,
                })
                .collect();
            Ok(vec![Event::PresetsInstalled {
                version: presets.version.clone(),
                greeting: presets.greeting.clone(),
                entries,
                cards: presets
                    .cards
                    .iter()
                    .map(|k| PresetSet::entry_id(k))
                    .collect(),
            }])
        }
        Command::CreateEntry { id, content } => {
            let mut bad = validate_content(content, limits, "content.");
            if id.trim().is_empty() || id.len() > 64 {
                bad.push(("entry_id".into(), "1 to 64 characters".into()));
            }
            if !bad.is_empty() {
                return Err(DomainError::Invalid(bad));
            }
            match state.entries.get(id) {
                // An idempotent retry of the same creation appends nothing.
                Some(existing) if existing.content == *content => Ok(Vec::new()),
                Some(_) => Err(DomainError::EntryExists(id.clone())),
                None => Ok(vec![Event::EntryCreated {
                    entry: Entry {
                        id: id.clone(),
                        content: content.clone(),
                        preset_key: None,
                        revision: 0,
                    },
                }]),
            }
        }
        Command::EditEntry { id, content } => {
            let bad = validate_content(content, limits, "content.");
            if !bad.is_empty() {
                return Err(DomainError::Invalid(bad));
            }
            let existing = state
                .entries
                .get(id)
                .ok_or_else(|| DomainError::EntryNotFound(id.clone()))?;
            if existing.content == *content {
                return Ok(Vec::new());
            }
            Ok(vec![Event::EntryEdited {
                id: id.clone(),
                content: content.clone(),
            }])
        }
        Command::DeleteEntry { id } => {
            if !state.entries.contains_key(id) {
                return Err(DomainError::EntryNotFound(id.clone()));
            }
            Ok(vec![Event::EntryDeleted { id: id.clone() }])
        }
        Command::ResetEntry { id, presets } => {
            let existing = state
                .entries
                .get(id)
                .ok_or_else(|| DomainError::EntryNotFound(id.clone()))?;
            let preset = existing
                .preset_key
                .as_deref()
                .and_then(|k| presets.entry(k))
                .ok_or_else(|| DomainError::NotAPreset(id.clone()))?;
            if existing.content == preset.content {
                return Ok(Vec::new());
            }
            Ok(vec![Event::EntryResetToPreset {
                id: id.clone(),
                preset_version: presets.version.clone(),
                content: preset.content.clone(),
            }])
        }
        Command::SetGreeting { text } => {
            if text.trim().is_empty() {
                return invalid("greeting", "must not be empty");
            }
            if text.chars().count() > limits.max_greeting_chars {
                return invalid(
                    "greeting",
                    &format!("at most {} characters", limits.max_greeting_chars),
                );
            }
            if *text == state.greeting {
                return Ok(Vec::new());
            }
            Ok(vec![Event::GreetingSet { text: text.clone() }])
        }
        Command::ArrangeCards { entry_ids } => {
            let mut bad = Vec::new();
            if entry_ids.len() > limits.max_cards {
                bad.push((
                    "entry_ids".to_owned(),
                    format!("at most {} cards", limits.max_cards),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for (i, id) in entry_ids.iter().enumerate() {
                let field = format!("entry_ids[{i}]");
                match state.entries.get(id) {
                    None => bad.push((field, format!("no entry {id:?}"))),
                    Some(e) if !e.content.enabled => {
                        bad.push((field, format!("entry {id:?} is disabled")))
                    }
                    Some(_) if !seen.insert(id) => bad.push((field, "listed twice".to_owned())),
                    Some(_) => {}
                }
            }
            if !bad.is_empty() {
                return Err(DomainError::Invalid(bad));
            }
            if *entry_ids == state.cards {
                return Ok(Vec::new());
            }
            Ok(vec![Event::CardsArranged {
                entry_ids: entry_ids.clone(),
            }])
        }
        Command::SetThreshold { threshold } => {
            if !(0.0..=1.0).contains(threshold) || threshold.is_nan() {
                return invalid("threshold", "must be within [0, 1]");
            }
            Ok(vec![Event::MatchThresholdSet {
                threshold: *threshold,
            }])
        }
    }
}

impl sellerdesk_core::DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        self.type_name()
    }
}

/// A shop's knowledge base as the shared [`sellerdesk_core::Decider`]
/// shape; the limits are what deciding reads besides it.
#[derive(Debug)]
pub struct Kb;

impl sellerdesk_core::Decider for Kb {
    type Command = Command;
    type Event = Event;
    type State = KnowledgeBase;
    type Context<'a> = Limits;
    type Error = DomainError;

    fn decide(
        command: &Command,
        kb: &KnowledgeBase,
        limits: &Limits,
    ) -> Result<Vec<Event>, DomainError> {
        decide(kb, command, limits)
    }

    fn evolve(kb: &mut KnowledgeBase, event: &Event) {
        kb.apply(event);
    }

    fn version(kb: &KnowledgeBase) -> i64 {
        kb.version
    }
}
