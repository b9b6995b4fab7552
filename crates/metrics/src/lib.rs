//! Prometheus metrics, once for every service.
//!
//! A metric is a family: a name, a help line, label names, and one series
//! per set of label values. Families register themselves in one process-wide
//! registry the first time they are used (`static X: LazyLock<Counter> =
//! LazyLock::new(|| Counter::new(...))`), and [`render`] writes all of them
//! in the text exposition format (version 0.0.4) that Prometheus scrapes.
//!
//! Written here rather than taken from a crate: what the services need is
//! small (counters, gauges, fixed-bucket histograms), and the crates that
//! offer it bring a second copy of `syn` or a second HTTP stack into a build
//! that CI compiles cold on two cores.
//!
//! Label values must be few (methods, codes, consumers, outcomes), never a
//! shop or a conversation: each distinct set is a series held for ever.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

type Labels = Vec<String>;

trait Family: Send + Sync {
    fn render(&self, out: &mut String);
}

fn registry() -> &'static Mutex<Vec<Arc<dyn Family>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Arc<dyn Family>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn register(family: Arc<dyn Family>) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(family);
}

/// Every registered family, in the text exposition format.
pub fn render() -> String {
    let families = registry().lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut out = String::new();
    for family in families {
        family.render(&mut out);
    }
    out
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Meta {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

impl Meta {
    fn header(&self, out: &mut String, kind: &str) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
    }

    fn key(&self, values: &[&str]) -> Labels {
        // A wrong count is a bug at the call site; a metric must never take
        // a request down, so it is mended rather than refused.
        debug_assert_eq!(
            values.len(),
            self.labels.len(),
            "{}: label values",
            self.name
        );
        (0..self.labels.len())
            .map(|i| values.get(i).copied().unwrap_or("").to_owned())
            .collect()
    }

    /// `{a="x",b="y"}` with `extra` (a histogram's `le`) last.
    fn label_set(&self, values: &Labels, extra: Option<(&str, &str)>) -> String {
        let mut pairs: Vec<String> = self
            .labels
            .iter()
            .zip(values)
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if let Some((k, v)) = extra {
            pairs.push(format!("{k}=\"{v}\""));
        }
        if pairs.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", pairs.join(","))
        }
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A count that only goes up (`*_total`).
#[derive(Clone)]
pub struct Counter(Arc<CounterFamily>);

struct CounterFamily {
    meta: Meta,
    series: Mutex<BTreeMap<Labels, Arc<AtomicU64>>>,
}

impl Counter {
    /// Registers a counter family.
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        let family = Arc::new(CounterFamily {
            meta: Meta { name, help, labels },
            series: Mutex::default(),
        });
        register(family.clone());
        Self(family)
    }

    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    pub fn add(&self, values: &[&str], n: u64) {
        let key = self.0.meta.key(values);
        let cell = lock(&self.0.series).entry(key).or_default().clone();
        cell.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count of one series (tests).
    pub fn get(&self, values: &[&str]) -> u64 {
        let key = self.0.meta.key(values);
        lock(&self.0.series)
            .get(&key)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counter({})", self.0.meta.name)
    }
}

impl Family for CounterFamily {
    fn render(&self, out: &mut String) {
        self.meta.header(out, "counter");
        for (values, n) in lock(&self.series).iter() {
            let labels = self.meta.label_set(values, None);
            let _ = writeln!(
                out,
                "{}{labels} {}",
                self.meta.name,
                n.load(Ordering::Relaxed)
            );
        }
    }
}

/// A value that goes up and down (a backlog, a queue's length).
#[derive(Clone)]
pub struct Gauge(Arc<GaugeFamily>);

struct GaugeFamily {
    meta: Meta,
    series: Mutex<BTreeMap<Labels, f64>>,
}

impl Gauge {
    /// Registers a gauge family.
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        let family = Arc::new(GaugeFamily {
            meta: Meta { name, help, labels },
            series: Mutex::default(),
        });
        register(family.clone());
        Self(family)
    }

    pub fn set(&self, values: &[&str], value: f64) {
        let key = self.0.meta.key(values);
        lock(&self.0.series).insert(key, value);
    }

    /// Adds `delta` (negative to take away) to one series.
    pub fn add(&self, values: &[&str], delta: f64) {
        let key = self.0.meta.key(values);
        *lock(&self.0.series).entry(key).or_insert(0.0) += delta;
    }

    /// The current value of one series (tests).
    pub fn get(&self, values: &[&str]) -> Option<f64> {
        let key = self.0.meta.key(values);
        lock(&self.0.series).get(&key).copied()
    }
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gauge({})", self.0.meta.name)
    }
}

impl Family for GaugeFamily {
    fn render(&self, out: &mut String) {
        self.meta.header(out, "gauge");
        for (values, v) in lock(&self.series).iter() {
            let labels = self.meta.label_set(values, None);
            let _ = writeln!(out, "{}{labels} {}", self.meta.name, number(*v));
        }
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Durations in seconds, counted into fixed buckets (`_bucket`, `_sum`, `_count`).
#[derive(Clone)]
pub struct Histogram(Arc<HistogramFamily>);

struct HistogramFamily {
    meta: Meta,
    bounds: &'static [f64],
    series: Mutex<BTreeMap<Labels, Buckets>>,
}

#[derive(Clone)]
struct Buckets {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Bucket bounds for request and storage latencies: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds for waits people feel (a buyer waiting for a reply): 1 s to 1 h.
pub const WAIT_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

impl Histogram {
    /// Registers a histogram family with `bounds` (ascending, in seconds).
    pub fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        let family = Arc::new(HistogramFamily {
            meta: Meta { name, help, labels },
            bounds,
            series: Mutex::default(),
        });
        register(family.clone());
        Self(family)
    }

    pub fn observe(&self, values: &[&str], took: Duration) {
        self.observe_seconds(values, took.as_secs_f64());
    }

    pub fn observe_seconds(&self, values: &[&str], seconds: f64) {
        let key = self.0.meta.key(values);
        let bounds = self.0.bounds;
        let mut series = lock(&self.0.series);
        let b = series.entry(key).or_insert_with(|| Buckets {
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        });
        // Counts are per bucket here; rendering makes them cumulative.
        if let Some(i) = bounds.iter().position(|le| seconds <= *le) {
            b.counts[i] += 1;
        }
        b.sum += seconds;
        b.count += 1;
    }

    /// How many observations one series has (tests).
    pub fn count(&self, values: &[&str]) -> u64 {
        let key = self.0.meta.key(values);
        lock(&self.0.series).get(&key).map_or(0, |b| b.count)
    }

    /// The sum of one series' observations, in seconds.
    pub fn sum(&self, values: &[&str]) -> f64 {
        let key = self.0.meta.key(values);
        lock(&self.0.series).get(&key).map_or(0.0, |b| b.sum)
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Histogram({})", self.0.meta.name)
    }
}

impl Family for HistogramFamily {
    fn render(&self, out: &mut String) {
        self.meta.header(out, "histogram");
        let name = self.meta.name;
        for (values, b) in lock(&self.series).iter() {
            let mut cumulative = 0;
            for (le, n) in self.bounds.iter().zip(&b.counts) {
                cumulative += n;
                let labels = self.meta.label_set(values, Some(("le", &number(*le))));
                let _ = writeln!(out, "{name}_bucket{labels} {cumulative}");
            }
            let labels = self.meta.label_set(values, Some(("le", "+Inf")));
            let _ = writeln!(out, "{name}_bucket{labels} {}", b.count);
            let labels = self.meta.label_set(values, None);
            let _ = writeln!(out, "{name}_sum{labels} {}", number(b.sum));
            let _ = writeln!(out, "{name}_count{labels} {}", b.count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_in_the_text_format() {
        let c = Counter::new("t_calls_total", "Calls.", &["method", "code"]);
        c.inc(&["a/B", "OK"]);
        c.add(&["a/B", "OK"], 2);
        c.inc(&["a/\"C\"", "INTERNAL"]);
        let g = Gauge::new("t_backlog", "Backlog.", &[]);
        g.set(&[], 7.0);
        g.add(&[], -2.0);
        let h = Histogram::new("t_seconds", "Time.", &["m"], &[0.1, 1.0]);
        h.observe_seconds(&["x"], 0.05);
        h.observe_seconds(&["x"], 0.5);
        h.observe_seconds(&["x"], 5.0);
        let text = render();
        for line in [
            "# TYPE t_calls_total counter",
            "t_calls_total{method=\"a/B\",code=\"OK\"} 3",
            "t_calls_total{method=\"a/\\\"C\\\"\",code=\"INTERNAL\"} 1",
            "# TYPE t_backlog gauge",
            "t_backlog 5",
            "# TYPE t_seconds histogram",
            "t_seconds_bucket{m=\"x\",le=\"0.1\"} 1",
            "t_seconds_bucket{m=\"x\",le=\"1\"} 2",
            "t_seconds_bucket{m=\"x\",le=\"+Inf\"} 3",
            "t_seconds_sum{m=\"x\"} 5.55",
            "t_seconds_count{m=\"x\"} 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(c.get(&["a/B", "OK"]), 3);
        assert_eq!(h.count(&["x"]), 3);
    }
}
