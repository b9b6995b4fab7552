//! Every compliance scenario file passes through the runner: the published
//! examples in ../shared and this project's own, one or more per rule.

use std::path::{Path, PathBuf};

fn dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

async fn all_pass(d: PathBuf) {
    let report = sellerdesk::scenario::run_dir(&d).await.unwrap();
    assert!(
        !report.files.is_empty(),
        "no scenario files in {}",
        d.display()
    );
    let failures: Vec<String> = report
        .files
        .iter()
        .filter(|f| !f.failures.is_empty())
        .map(|f| format!("{}: {}", f.file, f.failures.join(" | ")))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_compliance_scenarios_pass() {
    all_pass(dir("../shared/scenarios/compliance")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_compliance_scenarios_pass() {
    all_pass(dir("tests/scenarios/compliance")).await;
}

/// The runner reports a wrong expectation as a failure naming the step,
/// expected and actual (it cannot pass everything blindly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_reports_a_wrong_expectation() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("wrong.json"),
        r#"{"name":"wrong","shop":"s","steps":[
            {"at":"2026-01-01T00:00:00Z","record_violation":{"id":"v","points":12}},
            {"at":"2026-01-02T00:00:00Z","expect":{"points":11,"tier":1,"revoked":false}},
            {"at":"2026-01-03T00:00:00Z","record_violation":{"id":"w","points":5},"error":"NOT_FOUND"}]}"#,
    )
    .unwrap();
    let report = sellerdesk::scenario::run_dir(d.path()).await.unwrap();
    assert_eq!((report.passed(), report.failed()), (0, 1));
    let f = &report.files[0].failures;
    assert!(
        f[0].contains("step 2") && f[0].contains("points expected 11, actual 12"),
        "{f:?}"
    );
    assert!(
        f[1].contains("step 3") && f[1].contains("expected error NOT_FOUND"),
        "{f:?}"
    );
}
