//! `paystat audit verify | head | export | history | stats` over a fixed trail: four day files
//! (one of them legacy lines from before the chain), built here byte for byte the same on every
//! run, so the commands' output is pinned by snapshots under `snapshots/cli/`.

use std::path::{Path, PathBuf};

use std::borrow::Cow;

use paystat::audit_trail::{GENESIS, RequestLine, Target};
use paystat::{
    AttemptRecord, AuditRecord, CheckResult, GatewayKind, Money, Outcome, PaymentStatus,
};

use crate::cli::assert_run;
use crate::helpers::{fixed_record, paystat, seal};

/// One check of the fixed trail.
struct Check {
    at: &'static str,
    actor: &'static str,
    gateway: GatewayKind,
    id: &'static str,
    outcome: Outcome,
    status: Option<PaymentStatus>,
    /// Each attempt's HTTP status; the last one is the outcome's.
    attempts: &'static [u16],
    ms: u64,
}

const CHECKS: &[Check] = &[
    Check {
        at: "2026-10-30T09:00:00.120Z",
        actor: "alice",
        gateway: GatewayKind::Ledger,
        id: "txn_100",
        outcome: Outcome::Found,
        status: Some(PaymentStatus::Pending),
        attempts: &[200],
        ms: 41,
    },
    Check {
        at: "2026-10-30T09:00:01.200Z",
        actor: "alice",
        gateway: GatewayKind::Stripe,
        id: "pi_3MtwBwLkdIwHu7ixAlpha001",
        outcome: Outcome::Found,
        status: Some(PaymentStatus::Completed),
        attempts: &[200],
        ms: 233,
    },
    Check {
        at: "2026-10-30T17:45:10.000Z",
        actor: "bob",
        gateway: GatewayKind::Plaid,
        id: "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9",
        outcome: Outcome::Timeout,
        status: None,
        attempts: &[0, 0, 0],
        ms: 15_000,
    },
    Check {
        at: "2026-10-31T08:10:00.000Z",
        actor: "alice",
        gateway: GatewayKind::Ledger,
        id: "txn_100",
        outcome: Outcome::Found,
        status: Some(PaymentStatus::Pending),
        attempts: &[200],
        ms: 38,
    },
    Check {
        at: "2026-10-31T08:10:00.500Z",
        actor: "bob",
        gateway: GatewayKind::Stripe,
        id: "pi_3MtwBwLkdIwHu7ixBravo002",
        outcome: Outcome::Found,
        status: Some(PaymentStatus::Failed),
        attempts: &[429, 200],
        ms: 1_310,
    },
    Check {
        at: "2026-10-31T08:11:00.000Z",
        actor: "bob",
        gateway: GatewayKind::Ledger,
        id: "txn_404",
        outcome: Outcome::NotFound,
        status: None,
        attempts: &[404],
        ms: 22,
    },
    Check {
        at: "2026-10-31T23:59:59.999Z",
        actor: "carol",
        gateway: GatewayKind::Stripe,
        id: "pi_3MtwBwLkdIwHu7ixCharl003",
        outcome: Outcome::RateLimited,
        status: None,
        attempts: &[429, 429, 429],
        ms: 4_020,
    },
    Check {
        at: "2026-11-01T00:00:00.000Z",
        actor: "alice",
        gateway: GatewayKind::Ledger,
        id: "txn_100",
        outcome: Outcome::Found,
        status: Some(PaymentStatus::Completed),
        attempts: &[200],
        ms: 35,
    },
    Check {
        at: "2026-11-01T06:30:00.000Z",
        actor: "carol",
        gateway: GatewayKind::Plaid,
        id: "7a1c3f0e-5b2d-4e8f-9a6b-1c2d3e4f5a6b",
        outcome: Outcome::Found,
        status: Some(PaymentStatus::Pending),
        attempts: &[200],
        ms: 310,
    },
];

fn result_of(check: &Check) -> CheckResult {
    let mut result = CheckResult::new(check.id, Some(check.gateway), check.outcome);
    result.status = check.status;
    if let Some(status) = check.status {
        result.gateway_status = Some(status.as_str().to_owned());
        result.amount = Some(Money::from_minor(15_000, paystat::currency("USD").unwrap()));
    } else {
        result.detail = Some(format!(
            "{} after {} attempts",
            check.outcome,
            check.attempts.len()
        ));
    }
    result.attempts = check.attempts.len() as u32;
    result.http_status = check.attempts.last().copied().filter(|s| *s != 0);
    result.attempt_log = check
        .attempts
        .iter()
        .enumerate()
        .map(|(i, status)| AttemptRecord {
            attempt: i as u32 + 1,
            http_status: Some(*status).filter(|s| *s != 0),
            outcome: match status {
                200 => Outcome::Found,
                404 => Outcome::NotFound,
                429 => Outcome::RateLimited,
                _ => Outcome::Timeout,
            },
            error: None,
            duration_ms: check.ms / check.attempts.len() as u64,
            wait_ms: None,
            wait_reason: None,
        })
        .collect();
    result.duration_ms = check.ms;
    result
}

/// Builds the fixed trail in `dir`: a legacy day file, then three chained ones.
pub fn fixed_trail(dir: &Path) -> PathBuf {
    let trail = dir.join("trail");
    std::fs::create_dir_all(&trail).unwrap();
    std::fs::write(
        trail.join("2026-10-29.jsonl"),
        crate::audit_chain::LEGACY.replace("2026-10-02", "2026-10-29"),
    )
    .unwrap();
    let mut prev = GENESIS.to_owned();
    for (i, check) in CHECKS.iter().enumerate() {
        let result = result_of(check);
        let host = match check.gateway {
            GatewayKind::Ledger => "ledger.internal",
            GatewayKind::Stripe => "api.stripe.com",
            GatewayKind::Plaid => "production.plaid.com",
        };
        let fixed = fixed_record(&prev, i as u64 + 1, check.at, &result);
        let record = AuditRecord {
            envelope: paystat::Envelope {
                actor: check.actor.into(),
                os_user: format!("{}-os", check.actor).into(),
                ..fixed.envelope
            },
            target: Some(Cow::Owned(Target {
                scheme: "https".into(),
                host: host.into(),
                port: Some(443),
            })),
            request: Some(Cow::Owned(RequestLine {
                method: "GET".into(),
                path: format!("/v1/x/{}", check.id),
            })),
            ..fixed
        };
        let (line, hash) = seal(&record);
        let file = trail.join(format!("{}.jsonl", &check.at[..10]));
        let mut text = std::fs::read(&file).unwrap_or_default();
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
        std::fs::write(&file, text).unwrap();
        prev = hash;
    }
    trail
}

/// Snapshot settings for the fixed trail: its times and days are fixed, so they are kept; only
/// the temporary folder is hidden.
fn settings(dir: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/cli"));
    settings.set_prepend_module_to_snapshot(false);
    let dir = dir.canonicalize().unwrap().display().to_string();
    settings.add_filter(&crate::cli::regex_escape(&dir), "[TMP]");
    settings
}

fn audit(dir: &Path, trail: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = paystat(dir);
    cmd.arg("audit")
        .arg(args[0])
        .arg("--audit-dir")
        .arg(trail)
        .args(&args[1..]);
    cmd
}

#[test]
fn audit_commands_answer_from_a_fixed_trail() {
    let dir = tempfile::tempdir().unwrap();
    let trail = fixed_trail(dir.path());
    let runs: &[(&str, &[&str])] = &[
        ("audit_verify", &["verify"]),
        ("audit_head", &["head"]),
        (
            "audit_export_october_csv",
            &[
                "export",
                "--since",
                "2026-10-01",
                "--until",
                "2026-11-01",
                "--format",
                "csv",
            ],
        ),
        (
            "audit_export_jsonl_one_payment",
            &["export", "--payment-id", "txn_100", "--since", "2026-10-31"],
        ),
        (
            "audit_export_filtered",
            &[
                "export",
                "--actor",
                "bob",
                "--gateway",
                "stripe",
                "--format",
                "csv",
            ],
        ),
        ("audit_history", &["history", "txn_100"]),
        ("audit_history_unknown", &["history", "txn_never"]),
        ("audit_stats_by_gateway", &["stats"]),
        (
            "audit_stats_by_day",
            &[
                "stats",
                "--by",
                "day",
                "--since",
                "2026-10-30",
                "--until",
                "2026-11-01",
            ],
        ),
        ("audit_stats_by_actor", &["stats", "--by", "actor"]),
        (
            "audit_verify_bad_range",
            &["verify", "--since", "yesterday-ish"],
        ),
    ];
    settings(dir.path()).bind(|| {
        for (name, args) in runs {
            let shown = format!(
                "paystat audit {} --audit-dir [TRAIL] {}",
                args[0],
                args[1..].join(" ")
            );
            assert_run(name, shown.trim_end(), &mut audit(dir.path(), &trail, args));
        }
    });
}

#[test]
fn a_tampered_trail_fails_verify_and_export_at_the_edited_line() {
    let dir = tempfile::tempdir().unwrap();
    let trail = fixed_trail(dir.path());
    let day = trail.join("2026-10-31.jsonl");
    let text = std::fs::read_to_string(&day).unwrap();
    // Someone turns bob's failed Stripe payment into a completed one.
    std::fs::write(
        &day,
        text.replacen(r#""status":"failed""#, r#""status":"completed""#, 1),
    )
    .unwrap();
    settings(dir.path()).bind(|| {
        assert_run("audit_verify_edited", "paystat audit verify --audit-dir [TRAIL]  # after an edit", &mut audit(dir.path(), &trail, &["verify"]));
        assert_run("audit_export_edited", "paystat audit export --audit-dir [TRAIL] --format csv --outcome not_found  # after an edit", &mut audit(dir.path(), &trail, &["export", "--format", "csv", "--outcome", "not_found"]));
    });
}

#[test]
fn no_trail_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = audit(dir.path(), &dir.path().join("nothing"), &["verify"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("there is no audit trail at"));
}

#[test]
fn prune_keeps_twelve_months_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let trail = fixed_trail(dir.path());
    let prune = |config: &str, force: bool| {
        crate::helpers::write_config(dir.path(), config);
        let mut cmd = audit(dir.path(), &trail, &["prune"]);
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    // A retention shorter than PCI DSS's 12 months is refused, and nothing is removed.
    let refused = prune("[audit]\nretain = \"30d\"\n", false);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("shorter than the 365 days"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(std::fs::read_dir(&trail).unwrap().count(), 4);
    // The default (400 days) is accepted; allowed by the file alone (as the README says), a
    // one-day retention removes every day file of the fixed trail, leaves a checkpoint, and what
    // is left still verifies.
    let kept = prune("", false);
    assert_eq!(kept.status.code(), Some(0));
    let forced = prune(
        "[audit]\nretain = \"1d\"\ncompress_after = \"1d\"\nallow_short_retention = true\n",
        false,
    );
    assert_eq!(
        forced.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    let stdout = String::from_utf8_lossy(&forced.stdout);
    assert!(stdout.contains("removed 2026-10-29.jsonl"), "{stdout}");
    assert!(
        stdout.contains("checkpoint: the chain continues after seq"),
        "{stdout}"
    );
    let verify = audit(dir.path(), &trail, &["verify"]).output().unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// Lines of other events than status checks (a key rotation here) are exported, counted and
/// filtered by their event name; an unknown event name is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_shown_and_filtered_by_name() {
    const OLD: &str = "audit-key-canary-old-4411";
    const NEW: &str = "audit-key-canary-new-4412";
    let mock = crate::helpers::ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |key: &str, previous: Option<&str>, args: &[&str]| {
        let mut cmd = paystat(dir.path());
        cmd.env("PAYSTAT_AUDIT_KEY", key);
        if let Some(previous) = previous {
            cmd.env("PAYSTAT_AUDIT_KEY_PREVIOUS", previous);
        }
        cmd.args(args).output().unwrap()
    };
    let base = mock.base_url(GatewayKind::Ledger);
    assert_eq!(
        run(OLD, None, &["check", "--base-url", &base, "txn_001"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(NEW, Some(OLD), &["audit", "rotate-key"]).status.code(),
        Some(0)
    );
    let all = run(NEW, Some(OLD), &["audit", "export"]);
    let text = String::from_utf8_lossy(&all.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("\"event\":\"audit.key_rotated\""), "{text}");
    assert!(
        String::from_utf8_lossy(&all.stderr).contains("other events: audit.key_rotated 1"),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let only = run(
        NEW,
        Some(OLD),
        &["audit", "export", "--event", "audit.key_rotated"],
    );
    let text = String::from_utf8_lossy(&only.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("audit.key_rotated"));
    let checks = run(
        NEW,
        Some(OLD),
        &["audit", "export", "--event", "payment.status_check"],
    );
    assert!(!String::from_utf8_lossy(&checks.stdout).contains("audit.key_rotated"));
    let stats = run(NEW, Some(OLD), &["audit", "stats"]);
    let said = String::from_utf8_lossy(&stats.stderr);
    assert!(
        said.contains("1 check counted") && said.contains("audit.key_rotated 1"),
        "{said}"
    );
    let bad = run(NEW, Some(OLD), &["audit", "export", "--event", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("audit.prune"));
}
