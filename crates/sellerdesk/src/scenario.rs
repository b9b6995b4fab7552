//! The compliance scenario runner (`../shared/contracts/compliance-scenarios.md`).
//!
//! Each `*.json` file runs against a freshly started compliance-svc: its own
//! SQLite event store in a temporary directory, the real gRPC API on a
//! loopback port, and a manual clock set to each step's `at`.

use crate::client::{authed, code_name, compliance, token};
use chrono::{DateTime, Utc};
use compliance_svc::{Application, Settings};
use sellerdesk_api::compliance::v1 as pb;
use sellerdesk_bus::InProcessBus;
use sellerdesk_runtime::{ManualClock, Role, TokenSigner};
use serde_json::Value;
use std::{path::Path, sync::Arc, time::Duration};

/// What running one file gave.
#[derive(Debug)]
pub struct FileResult {
    pub file: String,
    pub name: String,
    /// Empty when the file passed; otherwise one line per failing step.
    pub failures: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub files: Vec<FileResult>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.files.iter().filter(|f| f.failures.is_empty()).count()
    }
    pub fn failed(&self) -> usize {
        self.files.len() - self.passed()
    }
}

/// Runs every `*.json` file of `dir`, in name order.
pub async fn run_dir(dir: &Path) -> anyhow::Result<Report> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut report = Report::default();
    for file in files {
        report.files.push(run_file(&file).await);
    }
    Ok(report)
}

pub async fn run_file(path: &Path) -> FileResult {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return broken(file, format!("cannot read: {e}")),
    };
    let scenario: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return broken(file, format!("not JSON: {e}")),
    };
    let name = scenario["name"].as_str().unwrap_or("(unnamed)").to_owned();
    let failures = match run_scenario(&scenario).await {
        Ok(f) => f,
        Err(e) => vec![format!("could not run: {e:#}")],
    };
    FileResult {
        file,
        name,
        failures,
    }
}

fn broken(file: String, why: String) -> FileResult {
    FileResult {
        file,
        name: String::new(),
        failures: vec![why],
    }
}

fn instant(v: &Value, what: &str) -> anyhow::Result<DateTime<Utc>> {
    let s = v
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{what} must be an RFC 3339 string"))?;
    Ok(DateTime::parse_from_rfc3339(s)
        .map_err(|e| anyhow::anyhow!("{what} {s:?}: {e}"))?
        .with_timezone(&Utc))
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

const ACTIONS: [&str; 4] = ["record_violation", "file_appeal", "decide_appeal", "expect"];

async fn run_scenario(scenario: &Value) -> anyhow::Result<Vec<String>> {
    let default_shop = scenario["shop"].as_str().unwrap_or("shop-a").to_owned();
    let steps = scenario["steps"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("\"steps\" must be an array"))?;
    let first_at = match steps.first() {
        Some(s) => instant(&s["at"], "step 1 at")?,
        None => Utc::now(),
    };

    // A fresh service: own database, manual clock, real gRPC on a free port.
    let dir = tempfile::tempdir()?;
    let store = sellerdesk_eventstore::open(&format!(
        "sqlite://{}",
        dir.path().join("compliance.db").display()
    ))
    .await?;
    let clock = ManualClock::new(first_at);
    let signer = TokenSigner::new(uuid::Uuid::now_v7().to_string());
    let settings = Settings {
        store,
        bus: Arc::new(InProcessBus::new()),
        durable_bus: false,
        clock: Arc::new(clock.clone()),
        clock_changes: Some(clock.watch()),
        cache_shops: 10_000,
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(30),
    };
    let service = Application::spawn_local(settings)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut client = compliance(crate::client::channel(&service.endpoint()).await?);
    let platform = token(&signer, "", Role::Platform, "scenario-platform", 24);

    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        let at = match instant(&step["at"], "at") {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("step {n}: {e}"));
                continue;
            }
        };
        clock.set(at);
        let shop = step["shop"].as_str().unwrap_or(&default_shop).to_owned();
        let owner = token(&signer, &shop, Role::Owner, "scenario-owner", 24);
        let expected_error = step["error"].as_str();
        let present: Vec<&str> = ACTIONS
            .iter()
            .copied()
            .filter(|a| step.get(*a).is_some())
            .collect();
        let action = match present.as_slice() {
            [one] => *one,
            _ => {
                failures.push(format!(
                    "step {n}: needs exactly one of {ACTIONS:?}, found {present:?}"
                ));
                continue;
            }
        };
        let body = &step[action];
        let result: Result<Option<String>, tonic::Status> = match action {
            "record_violation" => client
                .record_violation(authed(
                    &platform,
                    pb::RecordViolationRequest {
                        shop_id: shop.clone(),
                        violation_id: body["id"].as_str().unwrap_or_default().to_owned(),
                        violation_type: body["type"].as_str().unwrap_or_default().to_owned(),
                        points: body["points"]
                            .as_u64()
                            .map(|p| p.min(u64::from(u32::MAX)) as u32),
                        evidence: body["evidence"].as_str().unwrap_or_default().to_owned(),
                    },
                ))
                .await
                .map(|_| None),
            "file_appeal" => client
                .file_appeal(authed(
                    &owner,
                    pb::FileAppealRequest {
                        shop_id: shop.clone(),
                        violation_id: body["violation"].as_str().unwrap_or_default().to_owned(),
                        reason: body["reason"]
                            .as_str()
                            .unwrap_or("scenario appeal")
                            .to_owned(),
                        attachments: vec![],
                    },
                ))
                .await
                .map(|_| None),
            "decide_appeal" => {
                let outcome = match body["outcome"].as_str() {
                    Some("granted") => pb::AppealOutcome::Granted,
                    Some("rejected") => pb::AppealOutcome::Rejected,
                    _ => pb::AppealOutcome::Unspecified,
                };
                client
                    .decide_appeal(authed(
                        &platform,
                        pb::DecideAppealRequest {
                            shop_id: shop.clone(),
                            violation_id: body["violation"].as_str().unwrap_or_default().to_owned(),
                            outcome: outcome as i32,
                            note: String::new(),
                        },
                    ))
                    .await
                    .map(|_| None)
            }
            _ => {
                let as_of = match step.get("as_of") {
                    Some(v) => match instant(v, "as_of") {
                        Ok(t) => Some(ts(t)),
                        Err(e) => {
                            failures.push(format!("step {n}: {e}"));
                            continue;
                        }
                    },
                    None => None,
                };
                client
                    .get_standing(authed(
                        &owner,
                        pb::GetStandingRequest {
                            shop_id: shop.clone(),
                            as_of,
                        },
                    ))
                    .await
                    .map(|r| {
                        let s = r.into_inner().standing.unwrap_or_default();
                        compare_standing(body, &s)
                    })
            }
        };
        match (result, expected_error) {
            (Ok(None), None) => {}
            (Ok(Some(mismatch)), None) => {
                failures.push(format!("step {n} ({action} at {at}): {mismatch}"))
            }
            (Ok(_), Some(code)) => failures.push(format!(
                "step {n} ({action} at {at}): expected error {code}, actual: success"
            )),
            (Err(status), Some(code)) if code_name(status.code()) == code => {}
            (Err(status), expected) => failures.push(format!(
                "step {n} ({action} at {at}): expected {}, actual: {} ({})",
                expected.unwrap_or("success"),
                code_name(status.code()),
                status.message()
            )),
        }
    }
    service.stop().await.map_err(anyhow::Error::msg)?;
    Ok(failures)
}

/// `None` when every field the expectation names matches.
fn compare_standing(expect: &Value, actual: &pb::Standing) -> Option<String> {
    let mut diffs = Vec::new();
    if let Some(p) = expect.get("points") {
        if p.as_u64() != Some(u64::from(actual.points)) {
            diffs.push(format!("points expected {p}, actual {}", actual.points));
        }
    }
    if let Some(t) = expect.get("tier") {
        if t.as_u64() != Some(u64::from(actual.tier)) {
            diffs.push(format!("tier expected {t}, actual {}", actual.tier));
        }
    }
    if let Some(r) = expect.get("revoked") {
        if r.as_bool() != Some(actual.revoked) {
            diffs.push(format!("revoked expected {r}, actual {}", actual.revoked));
        }
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}
