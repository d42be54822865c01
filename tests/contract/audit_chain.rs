//! The tamper-evident trail: every kind of tampering `paystat audit verify` promises to find is
//! made to a real trail and found at the right line; a property test makes random single-byte
//! edits, line deletions and swaps and proves each one is found; three processes writing one
//! trail verify clean; a keyed trail cannot be re-hashed without the key; legacy lines are read,
//! not judged; pruning leaves a trail that still verifies.

use std::path::{Path, PathBuf};

use paystat::audit_trail::prune;
use paystat::audit_trail::verify::{self, BreakKind, Report, VerifyOptions};
use paystat::audit_trail::{Asked, GENESIS, Location, Sealer, TrailOptions};
use paystat::{AuditRecord, AuditTrail, CheckResult, GatewayKind, Outcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use secrecy::SecretString;

use crate::helpers::paystat;

/// Writes `n` lines into the single-file trail `path` through the real writer.
fn write_trail(path: &Path, n: usize, sealer: Sealer) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let trail = AuditTrail::open_at(
        Location::File(path.to_owned()),
        TrailOptions {
            sealer,
            durability: paystat::audit_trail::Durability::Os,
            ..TrailOptions::new("chain-test")
        },
    )
    .unwrap();
    for i in 0..n {
        let result = CheckResult::new(
            format!("txn_{i:03}"),
            Some(GatewayKind::Ledger),
            Outcome::NotFound,
        );
        runtime
            .block_on(trail.record(&result, &Asked::default()))
            .unwrap();
    }
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn verify_file(path: &Path, options: &VerifyOptions) -> Report {
    verify::verify(&Location::File(path.to_owned()), options).unwrap()
}

fn plain() -> VerifyOptions {
    VerifyOptions::default()
}

/// The kind and line of the first break.
fn first_break(report: &Report) -> Option<(BreakKind, Option<u64>)> {
    report
        .broken
        .as_ref()
        .map(|b| (b.kind, b.place.as_ref().map(|p| p.line)))
}

/// A trail of 10 lines, and its head.
fn ten_lines() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    write_trail(&path, 10, Sealer::plain());
    let report = verify_file(&path, &plain());
    assert_eq!(report.broken, None, "a fresh trail is intact");
    assert_eq!(report.lines, 10);
    let head = report.head.unwrap();
    assert_eq!(head.0, 10);
    (dir, path, head.1)
}

#[test]
fn an_untouched_trail_is_intact_and_its_head_is_the_last_line() {
    let (_dir, path, head) = ten_lines();
    let lines = lines_of(&path);
    assert!(lines[9].ends_with(&format!(r#","hash":"{head}"}}"#)));
    let first: AuditRecord = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (
            first.envelope.v,
            first.envelope.seq,
            &*first.envelope.prev,
            first.envelope.legacy_before
        ),
        (3, 1, GENESIS, Some(0)),
        "the chain's first line says no line came before it"
    );
    let second: AuditRecord = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(
        second.envelope.prev, first.hash,
        "each line names the one before it"
    );
    let report = verify_file(
        &path,
        &VerifyOptions {
            expect_head: Some(head),
            ..plain()
        },
    );
    assert_eq!(report.broken, None);
}

#[test]
fn an_edited_line_is_named() {
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    lines[4] = lines[4].replace("not_found", "found____");
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Edited, Some(5)))
    );
}

#[test]
fn an_edited_and_rehashed_line_is_named_not_its_successor() {
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    // Someone without a key edits line 5 and recomputes its hash: the line itself checks out,
    // but line 6 was chained to the original.
    let (body, _) =
        paystat::audit_trail::chain::unseal(lines[4].replace("txn_004", "txn_666").as_bytes())
            .unwrap();
    let (resealed, _) = Sealer::plain().seal(body);
    lines[4] = String::from_utf8(resealed).unwrap();
    write_lines(&path, &lines);
    let report = verify_file(&path, &plain());
    assert_eq!(first_break(&report), Some((BreakKind::Edited, Some(5))));
    assert!(
        report.broken.unwrap().detail.contains("re-hashed"),
        "says how it was done"
    );
}

#[test]
fn a_deleted_line_is_named() {
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    lines.remove(3);
    write_lines(&path, &lines);
    let report = verify_file(&path, &plain());
    assert_eq!(first_break(&report), Some((BreakKind::Deleted, Some(4))));
    assert!(report.broken.unwrap().detail.contains("seq 4 to 4"));
}

#[test]
fn an_inserted_line_is_named() {
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    let copy = lines[1].clone();
    lines.insert(6, copy);
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Inserted, Some(7)))
    );
}

#[test]
fn reordered_lines_are_named() {
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    lines.swap(2, 3);
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Reordered, Some(3)))
    );
}

#[test]
fn a_trail_cut_at_its_tail_is_found_against_the_recorded_head() {
    let (_dir, path, head) = ten_lines();
    let mut lines = lines_of(&path);
    lines.truncate(8);
    write_lines(&path, &lines);
    // Without the head the shorter trail is consistent; with it, the cut is found.
    assert_eq!(verify_file(&path, &plain()).broken, None);
    let report = verify_file(
        &path,
        &VerifyOptions {
            expect_head: Some(head),
            ..plain()
        },
    );
    assert_eq!(first_break(&report), Some((BreakKind::Truncated, None)));
}

#[test]
fn a_line_that_is_not_json_is_named() {
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    lines[7] = "rm -rf /".into();
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::NotJson, Some(8)))
    );
}

#[test]
fn a_repaired_fragment_is_a_warning_not_a_break() {
    let (_dir, path, _) = ten_lines();
    // A crash mid-write: half a line, no newline.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(r#"{"v":2,"seq":11,"prev":"ab"#);
    std::fs::write(&path, text).unwrap();
    write_trail(&path, 2, Sealer::plain());
    let report = verify_file(&path, &plain());
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.repairs.len(), 1);
    assert_eq!(report.repairs[0].line, 11);
    assert_eq!(report.head.unwrap().0, 13, "the repair line is chained too");
}

#[test]
fn legacy_lines_are_counted_not_judged_and_the_chain_starts_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payment_audit.jsonl");
    // Two lines as paystat wrote them before the chain.
    std::fs::write(&path, LEGACY).unwrap();
    write_trail(&path, 3, Sealer::plain());
    let report = verify_file(&path, &plain());
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!((report.lines, report.legacy), (5, 2));
    // A legacy-looking line inside the chain is not legacy: it was put there.
    let mut lines = lines_of(&path);
    let legacy = lines[0].clone();
    lines.insert(4, legacy);
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Inserted, Some(5)))
    );
}

/// Two status-check lines in the format of paystat before the chain (format version 1).
pub const LEGACY: &str = concat!(
    r#"{"timestamp":"2026-10-02T09:00:00.000Z","event":"payment.status_check","actor":"alice","origin":{"host":"ops-1","pid":4242},"request":{"method":"GET","path":"/v1/payments/txn_001"},"payment_id":"txn_001","gateway":"ledger","outcome":"found","status":"completed","gateway_status":"completed","amount_minor":15000,"currency":"USD","created_at":null,"failure_code":null,"status_reason":null,"http_status":200,"gateway_request_id":null,"attempts":1,"attempt_log":[{"attempt":1,"http_status":200,"outcome":"found","error":null,"duration_ms":12,"wait_ms":null,"wait_reason":null}],"retry_stop":null,"duration_ms":12,"detail":null,"gateway_error":null}"#,
    "\n",
    r#"{"timestamp":"2026-10-02T09:00:01.000Z","event":"payment.status_check","actor":"alice","origin":{"host":"ops-1","pid":4242},"request":{"method":"GET","path":"/v1/payments/txn_999"},"payment_id":"txn_999","gateway":"ledger","outcome":"not_found","status":null,"gateway_status":null,"amount_minor":null,"currency":null,"created_at":null,"failure_code":null,"status_reason":null,"http_status":404,"gateway_request_id":null,"attempts":1,"attempt_log":[{"attempt":1,"http_status":404,"outcome":"not_found","error":null,"duration_ms":9,"wait_ms":null,"wait_reason":null}],"retry_stop":null,"duration_ms":9,"detail":"no such payment","gateway_error":null}"#,
    "\n",
);

#[test]
fn a_keyed_trail_cannot_be_rehashed_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    let key = || Sealer::keyed(SecretString::from("audit-key-4f1e"));
    write_trail(&path, 6, key());
    let keyed = VerifyOptions {
        sealer: key(),
        ..plain()
    };
    assert_eq!(verify_file(&path, &keyed).broken, None);
    // Without the key, verify says it needs one rather than calling every line edited.
    assert!(matches!(
        verify::verify(&Location::File(path.clone()), &plain()),
        Err(verify::VerifyError::KeyNeeded)
    ));
    // With another key, every line is wrong.
    let other = VerifyOptions {
        sealer: Sealer::keyed(SecretString::from("not-the-key")),
        ..plain()
    };
    assert_eq!(
        first_break(&verify_file(&path, &other)),
        Some((BreakKind::Edited, Some(1)))
    );
    // An edit re-hashed with plain SHA-256 (or any other key) is found.
    let mut lines = lines_of(&path);
    let (body, _) =
        paystat::audit_trail::chain::unseal(lines[2].replace("txn_002", "txn_777").as_bytes())
            .unwrap();
    let (resealed, _) = Sealer::keyed(SecretString::from("guess")).seal(body);
    lines[2] = String::from_utf8(resealed).unwrap();
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &keyed)),
        Some((BreakKind::Edited, Some(3)))
    );
}

/// One tampering of a trail's bytes.
#[derive(Debug, Clone)]
enum Tamper {
    /// Byte `at` (modulo the length) becomes `to` (when that changes it).
    Byte { at: usize, to: u8 },
    /// Line `at` (modulo the count) is removed.
    Delete { at: usize },
    /// Lines `a` and `b` (modulo the count) trade places.
    Swap { a: usize, b: usize },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, to)| Tamper::Byte { at, to }),
        any::<usize>().prop_map(|at| Tamper::Delete { at }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
    ]
}

#[test]
fn every_single_byte_edit_deletion_and_swap_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let original_path = dir.path().join("original.jsonl");
    write_trail(&original_path, 8, Sealer::plain());
    let original = std::fs::read(&original_path).unwrap();
    let head = verify_file(&original_path, &plain()).head.unwrap().1;
    let options = VerifyOptions {
        expect_head: Some(head),
        ..plain()
    };
    let path = dir.path().join("tampered.jsonl");
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&tamper(), |tampering| {
            let mut bytes = original.clone();
            let mut lines: Vec<Vec<u8>> = original
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            match tampering {
                Tamper::Byte { at, to } => {
                    let at = at % bytes.len();
                    if bytes[at] == to {
                        return Ok(());
                    }
                    bytes[at] = to;
                }
                Tamper::Delete { at } => {
                    lines.remove(at % lines.len());
                    bytes = lines.join(&b'\n');
                    bytes.push(b'\n');
                }
                Tamper::Swap { a, b } => {
                    let (a, b) = (a % lines.len(), b % lines.len());
                    if a == b {
                        return Ok(());
                    }
                    lines.swap(a, b);
                    bytes = lines.join(&b'\n');
                    bytes.push(b'\n');
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            let report = verify::verify(&Location::File(path.clone()), &options)
                .expect("the tampered trail is still read");
            prop_assert!(report.broken.is_some(), "not found: {:?}", report);
            Ok(())
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_writing_one_trail_verify_clean() {
    let mock = crate::helpers::ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let ids: String = (0..2000).map(|i| format!("txn_{i:04}\n")).collect();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let mut child = paystat(dir.path())
                .args([
                    "check",
                    "--base-url",
                    &mock.base_url(GatewayKind::Ledger),
                    "--format",
                    "json",
                    "--concurrency",
                    "32",
                ])
                .arg("--audit-dir")
                .arg(&trail)
                .arg("-")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let ids = ids.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(ids.as_bytes()).unwrap();
            });
            child
        })
        .collect();
    for run in runs {
        let output = run.wait_with_output().unwrap();
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "every check was answered: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report = verify::verify(&Location::Days(trail.clone()), &plain()).unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.lines, 6000, "3 processes × 2,000 checks");
    assert_eq!(
        report.head.unwrap().0,
        6000,
        "one chain, numbered 1 to 6000"
    );
    let output = paystat(dir.path())
        .args(["audit", "verify", "--audit-dir"])
        .arg(&trail)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("intact"));
}

/// Writes day files for `days` (one line each) into `dir`, chained; returns the head.
fn day_files(dir: &Path, days: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut prev = GENESIS.to_owned();
    for (i, day) in days.iter().enumerate() {
        let result = CheckResult::new(
            format!("txn_{i}"),
            Some(GatewayKind::Ledger),
            Outcome::NotFound,
        );
        let (line, hash) = crate::helpers::sealed_line(
            &prev,
            i as u64 + 1,
            &format!("{day}T12:00:00.000Z"),
            &result,
        );
        std::fs::write(dir.join(format!("{day}.jsonl")), line + "\n").unwrap();
        prev = hash;
    }
    prev
}

#[test]
fn a_deleted_day_file_is_found_at_the_first_line_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    day_files(&trail, &["2026-10-01", "2026-10-02", "2026-10-03"]);
    let location = Location::Days(trail.clone());
    assert_eq!(verify::verify(&location, &plain()).unwrap().broken, None);
    std::fs::remove_file(trail.join("2026-10-02.jsonl")).unwrap();
    let report = verify::verify(&location, &plain()).unwrap();
    let broken = report.broken.unwrap();
    assert_eq!(broken.kind, BreakKind::Deleted);
    assert_eq!(
        broken.place.unwrap().file,
        trail.join("2026-10-03.jsonl"),
        "named by file and line"
    );
}

/// The trail at `location`, opened to prune it (pruning is recorded in the chain).
fn recording_trail(location: &Location) -> paystat::AuditTrail {
    paystat::AuditTrail::open_at(
        location.clone(),
        paystat::audit_trail::TrailOptions::new("retention"),
    )
    .unwrap()
}

#[test]
fn pruning_leaves_a_checkpoint_and_the_rest_still_verifies_compressed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    let head = day_files(
        &trail,
        &["2025-01-01", "2025-01-02", "2026-09-01", "2026-11-20"],
    );
    let location = Location::Days(trail.clone());
    let today = time::macros::date!(2026 - 11 - 27);
    // Shorter than PCI DSS's 12 months: refused unless forced.
    assert!(matches!(
        prune::prune(&location, today, 90, None, false, &Sealer::plain()),
        Err(prune::PruneError::TooShort(90))
    ));
    let pruned = recording_trail(&location)
        .prune(today, 400, Some(30), false)
        .unwrap();
    assert_eq!(pruned.removed.len(), 2, "{pruned:?}");
    assert_eq!(
        pruned.compressed,
        vec![trail.join("2026-09-01.jsonl.gz")],
        "older than 30 days, kept but compressed"
    );
    let checkpoint = pruned.checkpoint.unwrap();
    assert_eq!(
        (checkpoint.seq, checkpoint.through.as_str()),
        (2, "2025-01-02")
    );
    let report = verify::verify(
        &location,
        &VerifyOptions {
            expect_head: Some(head),
            ..plain()
        },
    )
    .unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(
        report.unrecorded_checkpoint, None,
        "the prune line records it"
    );
    assert_eq!(
        report.lines, 3,
        "the compressed day is read too, and the prune line"
    );
    // Removing the checkpoint makes the cut visible again.
    std::fs::remove_file(trail.join("checkpoint.json")).unwrap();
    assert_eq!(
        verify::verify(&location, &plain())
            .unwrap()
            .broken
            .map(|b| b.kind),
        Some(BreakKind::Deleted)
    );
}

/// Lines in the format before the chain come before every chained line, so a trail pruned
/// after its chain began holds none: one planted at the start of what is left is a break, not
/// "legacy, unchained".
#[test]
fn after_a_checkpoint_a_line_without_chain_fields_is_a_break() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    day_files(&trail, &["2025-01-01", "2025-01-02", "2026-11-20"]);
    let location = Location::Days(trail.clone());
    let today = time::macros::date!(2026 - 11 - 27);
    recording_trail(&location)
        .prune(today, 400, None, false)
        .unwrap();
    let kept = trail.join("2026-11-20.jsonl");
    let text = std::fs::read_to_string(&kept).unwrap();
    std::fs::write(
        &kept,
        format!("{}{text}", LEGACY.lines().next().unwrap().to_owned() + "\n"),
    )
    .unwrap();
    let report = verify::verify(&location, &plain()).unwrap();
    assert_eq!(report.legacy, 0, "{report:?}");
    assert_eq!(
        report.broken.map(|b| (b.kind, b.place.map(|p| p.line))),
        Some((BreakKind::Inserted, Some(1)))
    );
}

/// Deleting the oldest day files and writing a checkpoint by hand does not pass as pruning:
/// pruning records itself in the chain (a sealed line naming what it removed), the checkpoint
/// is only a shortcut. A checkpoint no line records is never "intact".
#[test]
fn a_hand_written_checkpoint_is_not_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    day_files(
        &trail,
        &["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04"],
    );
    let second = std::fs::read_to_string(trail.join("2026-10-02.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(second.trim()).unwrap();
    std::fs::remove_file(trail.join("2026-10-01.jsonl")).unwrap();
    std::fs::remove_file(trail.join("2026-10-02.jsonl")).unwrap();
    std::fs::write(
        trail.join("checkpoint.json"),
        serde_json::json!({"seq": line["seq"], "hash": line["hash"], "through": "2026-10-02", "files_pruned": 2})
            .to_string(),
    )
    .unwrap();
    let verify = paystat(dir.path())
        .args(["audit", "verify", "--audit-dir"])
        .arg(&trail)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(!said.contains("intact"), "{said}");
    assert!(said.contains("checkpoint.json"), "{said}");
    assert!(said.contains("no line of the chain records"), "{said}");
    // One sealed as paystat seals its own (here without a key) but that no prune line records
    // is a break: the files before it went without pruning.
    let mut checkpoint: paystat::audit_trail::Checkpoint =
        serde_json::from_str(&std::fs::read_to_string(trail.join("checkpoint.json")).unwrap())
            .unwrap();
    checkpoint.seal = Some(Sealer::plain().hash(&checkpoint.sealed_bytes()));
    std::fs::write(
        trail.join("checkpoint.json"),
        serde_json::to_string(&checkpoint).unwrap(),
    )
    .unwrap();
    let verify = paystat(dir.path())
        .args(["audit", "verify", "--audit-dir"])
        .arg(&trail)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{said}");
    assert!(said.contains("were removed without pruning"), "{said}");
    // Pruned by paystat, the same trail is intact.
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    day_files(
        &trail,
        &["2024-10-01", "2024-10-02", "2026-10-03", "2026-10-04"],
    );
    let prune = paystat(dir.path())
        .args(["audit", "prune", "--audit-dir"])
        .arg(&trail)
        .output()
        .unwrap();
    assert_eq!(
        prune.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    let verify = paystat(dir.path())
        .args(["audit", "verify", "--audit-dir"])
        .arg(&trail)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{said}");
    assert!(said.contains("intact"), "{said}");
}

#[test]
fn the_writer_continues_the_chain_across_day_files_and_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    // Yesterday's file exists: today's first line follows its last.
    day_files(&trail, &["2026-01-01", "2026-01-02"]);
    let opened = AuditTrail::open_at(
        Location::Days(trail.clone()),
        TrailOptions {
            durability: paystat::audit_trail::Durability::Os,
            ..TrailOptions::new("chain-test")
        },
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = CheckResult::new("txn_new", Some(GatewayKind::Ledger), Outcome::NotFound);
    runtime
        .block_on(opened.record(&result, &Asked::default()))
        .unwrap();
    let report = verify::verify(&Location::Days(trail.clone()), &plain()).unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.head.unwrap().0, 3);
    assert_eq!(report.files, 3);
    // Trail files are private to their owner.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(opened.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let fresh = dir.path().join("state/audit");
    AuditTrail::open_at(
        Location::Days(fresh.clone()),
        TrailOptions::new("chain-test"),
    )
    .unwrap();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "a directory paystat creates is 0700");
}

#[test]
fn an_empty_actor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let error = AuditTrail::open_at(
        Location::File(dir.path().join("t.jsonl")),
        TrailOptions::new("  "),
    )
    .unwrap_err();
    assert!(matches!(error, paystat::AuditError::NoActor));
    let output = paystat(dir.path())
        .args(["check", "--actor", "", "txn_001"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--actor is empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_key_seals_the_lines_and_never_shows() {
    const KEY: &str = "audit-key-canary-7d2e";
    let mock = crate::helpers::ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let check = paystat(dir.path())
        .env("PAYSTAT_AUDIT_KEY", KEY)
        .env("RUST_LOG", "trace")
        .args(["check", "--base-url", &mock.base_url(GatewayKind::Ledger)])
        .args(["txn_001", "txn_999"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let trail = dir.path().join("state/paystat/audit");
    let verify = |key: Option<&str>| {
        let mut cmd = paystat(dir.path());
        if let Some(key) = key {
            cmd.env("PAYSTAT_AUDIT_KEY", key);
        }
        cmd.args(["audit", "verify", "--audit-dir"])
            .arg(&trail)
            .output()
            .unwrap()
    };
    let keyed = verify(Some(KEY));
    assert_eq!(keyed.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&keyed.stdout).contains("sealed with the audit key"));
    let keyless = verify(None);
    assert_eq!(keyless.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&keyless.stderr).contains("set PAYSTAT_AUDIT_KEY"));
    assert_eq!(
        verify(Some("another-key")).status.code(),
        Some(1),
        "lines sealed with another key do not verify"
    );
    let lines = crate::helpers::live_trail(dir.path());
    assert_eq!(lines.matches(r#""chain":"hmac-sha256""#).count(), 2);
    let mut everything = lines;
    for output in [&check, &keyed, &keyless] {
        everything.push_str(&String::from_utf8_lossy(&output.stdout));
        everything.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    assert!(
        everything.contains("sending status request"),
        "trace logs ran"
    );
    assert!(!everything.contains(KEY), "the audit key leaked");
}

/// A trail sealed with the audit key is known to be keyed: a run without the key refuses to
/// append to it (exit 4, before any request), instead of writing an unkeyed line that every
/// later verify with the key reports as tampering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_the_key_refuses_to_append_to_a_keyed_trail() {
    const KEY: &str = "audit-key-canary-51b0";
    let mock = crate::helpers::ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let check = |key: Option<&str>, id: &str| {
        let mut cmd = paystat(dir.path());
        if let Some(key) = key {
            cmd.env("PAYSTAT_AUDIT_KEY", key);
        }
        cmd.args([
            "check",
            "--base-url",
            &mock.base_url(GatewayKind::Ledger),
            id,
        ])
        .output()
        .unwrap()
    };
    assert_eq!(check(Some(KEY), "txn_001").status.code(), Some(0));
    let before = crate::helpers::live_trail(dir.path());
    let keyless = check(None, "txn_003");
    assert_eq!(keyless.status.code(), Some(4));
    let said = String::from_utf8_lossy(&keyless.stderr);
    assert!(
        said.contains("is sealed with the audit key") && said.contains("PAYSTAT_AUDIT_KEY"),
        "{said}"
    );
    assert!(keyless.stdout.is_empty(), "no answer shown");
    assert_eq!(
        crate::helpers::live_trail(dir.path()),
        before,
        "no line appended"
    );
    // With the key the trail goes on, and verifies.
    assert_eq!(check(Some(KEY), "txn_003").status.code(), Some(0));
    let verify = paystat(dir.path())
        .env("PAYSTAT_AUDIT_KEY", KEY)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// A day file dated after today (a clock set back, or a planted file) cannot fork the chain:
/// new lines go on in the trail's newest day file with their true time, verify finds the
/// chain intact, and `audit head` says the clock is behind the trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_file_from_the_future_does_not_fork_the_chain() {
    let mock = crate::helpers::ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let check = |id: &str| {
        paystat(dir.path())
            .args([
                "check",
                "--base-url",
                &mock.base_url(GatewayKind::Ledger),
                id,
            ])
            .output()
            .unwrap()
    };
    assert_eq!(check("txn_001").status.code(), Some(0));
    let trail = dir.path().join("state/paystat/audit");
    let today = time::OffsetDateTime::now_utc().date();
    let future = today.next_day().unwrap().next_day().unwrap();
    let name = |day: time::Date| format!("{day}.jsonl");
    std::fs::rename(trail.join(name(today)), trail.join(name(future))).unwrap();
    let second = check("txn_003");
    assert_eq!(second.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains(&format!(
            "the clock is behind the audit trail, whose newest day file is {future}"
        )),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        !trail.join(name(today)).exists(),
        "the line went on in the newest day file"
    );
    let lines = std::fs::read_to_string(trail.join(name(future))).unwrap();
    assert_eq!(lines.lines().count(), 2);
    assert!(
        lines
            .lines()
            .nth(1)
            .unwrap()
            .contains(&format!("\"timestamp\":\"{today}T"))
    );
    let verify = paystat(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let head = paystat(dir.path())
        .args(["audit", "head"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&head.stdout);
    assert!(said.contains("the clock is behind the trail"), "{said}");
}

/// A trail written without the key is sealed with it by a decision the chain records
/// (`audit seal`), not by the first run that happens to have a key; verify then takes the
/// unkeyed lines before that line and holds every line after it to the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealing_an_unkeyed_trail_with_the_key_is_a_recorded_step() {
    const KEY: &str = "audit-key-canary-2a77";
    let mock = crate::helpers::ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |key: Option<&str>, args: &[&str]| {
        let mut cmd = paystat(dir.path());
        if let Some(key) = key {
            cmd.env("PAYSTAT_AUDIT_KEY", key);
        }
        cmd.args(args).output().unwrap()
    };
    let base = mock.base_url(GatewayKind::Ledger);
    let check = ["check", "--base-url", base.as_str(), "txn_001"];
    assert_eq!(run(None, &check).status.code(), Some(0));
    let keyed_check = run(Some(KEY), &check);
    assert_eq!(keyed_check.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&keyed_check.stderr).contains("run `paystat audit seal`"),
        "{}",
        String::from_utf8_lossy(&keyed_check.stderr)
    );
    assert_eq!(
        run(None, &["audit", "seal"]).status.code(),
        Some(4),
        "no key to seal with"
    );
    let sealed = run(Some(KEY), &["audit", "seal"]);
    assert_eq!(
        sealed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sealed.stderr)
    );
    assert_eq!(run(Some(KEY), &check).status.code(), Some(0));
    assert_eq!(run(None, &check).status.code(), Some(4), "keyed now");
    let verify = run(Some(KEY), &["audit", "verify"]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{said}");
    assert!(said.contains("intact"), "{said}");
    let trail = crate::helpers::live_trail(dir.path());
    assert!(trail.contains(r#""event":"audit.keyed""#), "{trail}");
    // Without the seal line, the first keyed line after unkeyed ones is a forgery.
    let day = std::fs::read_dir(dir.path().join("state/paystat/audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(&day).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(r#""event":"audit.keyed""#))
        .collect();
    std::fs::write(&day, kept.join("\n") + "\n").unwrap();
    let verify = run(Some(KEY), &["audit", "verify"]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{said}");
    assert!(
        said.contains("it is not the line of `audit seal`"),
        "{said}"
    );
}

/// The audit key can be rotated: a line sealed with the old key names the new one, the lines
/// after it are sealed with the new key, and verify needs both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_key_is_rotated_by_a_line_sealed_with_the_old_one() {
    const OLD: &str = "audit-key-canary-old-41c8";
    const NEW: &str = "audit-key-canary-new-93fd";
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
    let check = [
        "check",
        "--no-cache",
        "--base-url",
        base.as_str(),
        "txn_001",
    ];
    assert_eq!(run(OLD, None, &check).status.code(), Some(0));
    let rotated = run(NEW, Some(OLD), &["audit", "rotate-key"]);
    assert_eq!(
        rotated.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert_eq!(run(NEW, None, &check).status.code(), Some(0));
    let verify = |key: &str, previous: Option<&str>| {
        let output = run(key, previous, &["audit", "verify"]);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, said) = verify(NEW, Some(OLD));
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("intact"), "{said}");
    assert_eq!(
        verify(NEW, None).0,
        Some(1),
        "the old lines need the old key"
    );
    assert_eq!(
        verify(OLD, None).0,
        Some(1),
        "the new lines need the new key"
    );
    let trail = crate::helpers::live_trail(dir.path());
    assert!(trail.contains(r#""event":"audit.key_rotated""#), "{trail}");
    assert!(
        !trail.contains(OLD) && !trail.contains(NEW),
        "no key in the trail"
    );
}

#[test]
fn a_range_judges_only_its_own_lines_since_inclusive_until_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    day_files(&trail, &["2026-10-01", "2026-10-02", "2026-10-03"]);
    // The line of 3 October is edited.
    let third = trail.join("2026-10-03.jsonl");
    let text = std::fs::read_to_string(&third).unwrap();
    std::fs::write(&third, text.replace("txn_2", "txn_X")).unwrap();
    let location = Location::Days(trail.clone());
    let at = |text: &str| {
        Some(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .unwrap(),
        )
    };
    let ranged = |since: Option<&str>, until: Option<&str>| {
        verify::verify(
            &location,
            &VerifyOptions {
                since: since.and_then(at),
                until: until.and_then(at),
                ..plain()
            },
        )
        .unwrap()
    };
    // Up to the edited line's own time (exclusive): intact, and its day's file not judged.
    let before = ranged(None, Some("2026-10-03T12:00:00Z"));
    assert_eq!(before.broken, None, "{before:?}");
    assert_eq!(before.lines, 2);
    // One millisecond later it is in the range, and found.
    let through = ranged(None, Some("2026-10-03T12:00:00.001Z"));
    assert_eq!(through.broken.map(|b| b.kind), Some(BreakKind::Edited));
    // From its time (inclusive): the range's first line, still judged by its own hash.
    let from = ranged(Some("2026-10-03T12:00:00Z"), None);
    assert_eq!(from.broken.map(|b| b.kind), Some(BreakKind::Edited));
    assert_eq!(
        from.files, 1,
        "only the day file the range can hold is read"
    );
    // A range of the first two days reads their two files only.
    let early = ranged(Some("2026-10-01T00:00:00Z"), Some("2026-10-02T23:00:00Z"));
    assert_eq!((early.lines, early.files, early.broken), (2, 2, None));
    let middle = ranged(Some("2026-10-02T00:00:00Z"), Some("2026-10-03T00:00:00Z"));
    assert_eq!((middle.lines, middle.broken), (1, None));
    assert_eq!(
        middle.files, 2,
        "2 October, and 3 October which may hold midnight"
    );
}

#[test]
fn the_kind_of_break_is_told_apart_where_neighbours_look_alike() {
    // Two lines deleted: the gap is named with both numbers.
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    lines.drain(3..5);
    write_lines(&path, &lines);
    let report = verify_file(&path, &plain());
    assert_eq!(first_break(&report), Some((BreakKind::Deleted, Some(4))));
    assert!(
        report
            .broken
            .unwrap()
            .detail
            .starts_with("2 lines are missing before this one (seq 4 to 5)")
    );

    // A forged line claiming the next-but-one seq, re-hashed but chained to nothing: inserted,
    // not a swap of neighbours.
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    let forged = lines[4].replace(
        &lines[4][lines[4].find("\"prev\":\"").unwrap() + 8..][..64],
        &"f".repeat(64),
    );
    let (body, _) = paystat::audit_trail::chain::unseal(forged.as_bytes()).unwrap();
    let (resealed, _) = Sealer::plain().seal(body);
    lines.insert(3, String::from_utf8(resealed).unwrap());
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Inserted, Some(4)))
    );

    // A line of the current format with its chain fields taken out is not a legacy line.
    let (_dir, path, _) = ten_lines();
    let mut lines = lines_of(&path);
    let mut value: serde_json::Value = serde_json::from_str(&lines[6]).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("seq");
    object.remove("prev");
    assert_eq!(object["v"], 3);
    lines[6] = value.to_string();
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Edited, Some(7)))
    );
    // Nor is one of format 2, the first with chain fields.
    value["v"] = 2.into();
    lines[6] = value.to_string();
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Edited, Some(7)))
    );
}

#[test]
fn retention_boundaries_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    // Today 2026-11-27: 400 days keep 2025-10-23 on; 30 days of compression start before
    // 2026-10-28.
    day_files(
        &trail,
        &[
            "2025-10-21",
            "2025-10-22",
            "2025-10-23",
            "2026-10-27",
            "2026-10-28",
        ],
    );
    let location = Location::Days(trail.clone());
    let today = time::macros::date!(2026 - 11 - 27);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(
        prune::prune(
            &Location::Days(empty),
            today,
            365,
            None,
            false,
            &Sealer::plain()
        )
        .is_ok(),
        "exactly 12 months is enough"
    );
    let pruned = recording_trail(&location)
        .prune(today, 400, Some(30), false)
        .unwrap();
    let names = |paths: &[PathBuf]| -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(&pruned.removed),
        ["2025-10-21.jsonl", "2025-10-22.jsonl"]
    );
    assert_eq!(
        names(&pruned.compressed),
        ["2025-10-23.jsonl.gz", "2026-10-27.jsonl.gz"]
    );
    let checkpoint = pruned.checkpoint.unwrap();
    assert_eq!(
        (
            checkpoint.seq,
            checkpoint.files_pruned,
            checkpoint.through.as_str()
        ),
        (2, 2, "2025-10-22")
    );
    assert_eq!(verify::verify(&location, &plain()).unwrap().broken, None);
}

#[test]
fn places_and_sealers_describe_themselves() {
    let place = verify::Place {
        file: PathBuf::from("2026-11-27.jsonl"),
        line: 42,
    };
    assert_eq!(place.to_string(), "2026-11-27.jsonl line 42");
    assert_eq!(
        format!("{:?}", Sealer::keyed(SecretString::from("k"))),
        "Sealer { keyed: true }"
    );
    assert_eq!(format!("{:?}", Sealer::plain()), "Sealer { keyed: false }");
}

/// The live trail's newest day file under `paystat(dir)`'s state directory.
fn newest_day_file(dir: &Path) -> PathBuf {
    let trail = dir.join("state/paystat/audit");
    let mut days: Vec<PathBuf> = std::fs::read_dir(&trail)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    days.sort();
    days.pop().unwrap()
}

/// A line on disk when its answer was shown, then cut short, is not a crash: paystat refuses
/// to write a repair over it (exit 4, the trail left as it is), and verify reports it as a
/// break, not a warning. A line deleted whole from the end is found the same way, without a
/// recorded head. A tail a crash tore (never synced, so never shown) is still repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_cut_after_it_was_on_disk_is_never_repaired_away() {
    const KEY: &str = "audit-key-canary-d07a";
    let mock = crate::helpers::ledger_mock().await;
    let run = |dir: &Path, args: &[&str]| {
        paystat(dir)
            .env("PAYSTAT_AUDIT_KEY", KEY)
            .args(args)
            .output()
            .unwrap()
    };
    let base = mock.base_url(GatewayKind::Ledger);
    let check = |dir: &Path, id: &str| run(dir, &["check", "--base-url", &base, id]);
    let said = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    for cut in ["short", "tail", "whole"] {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check(dir.path(), "txn_001").status.code(), Some(0));
        assert_eq!(check(dir.path(), "txn_003").status.code(), Some(0));
        let file = newest_day_file(dir.path());
        let text = std::fs::read_to_string(&file).unwrap();
        let last_start = text.trim_end().rfind('\n').unwrap() + 1;
        let kept = match cut {
            "short" => &text[..last_start + 40],
            // Only its last bytes: most of the line is still there, after the point on disk.
            "tail" => &text[..text.len() - 6],
            _ => &text[..last_start],
        };
        std::fs::write(&file, kept).unwrap();
        let verify = run(dir.path(), &["audit", "verify"]);
        assert_eq!(verify.status.code(), Some(1), "{cut}: {}", said(&verify));
        let again = check(dir.path(), "txn_001");
        assert_eq!(again.status.code(), Some(4), "{cut}: {}", said(&again));
        assert!(
            said(&again).contains("was cut after it was on disk"),
            "{cut}: {}",
            said(&again)
        );
        assert!(again.stdout.is_empty(), "no answer shown");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            kept,
            "{cut}: untouched"
        );
        let verify = run(dir.path(), &["audit", "verify"]);
        assert_eq!(verify.status.code(), Some(1), "{cut}: {}", said(&verify));
        assert!(
            said(&verify).contains("BROKEN") && !said(&verify).contains("intact"),
            "{cut}: {}",
            said(&verify)
        );
    }
    // A crash tore the tail: bytes after the last line on disk. Repaired, a warning.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(check(dir.path(), "txn_001").status.code(), Some(0));
    let file = newest_day_file(dir.path());
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(r#"{"v":3,"seq":2,"prev":"ab"#);
    std::fs::write(&file, &text).unwrap();
    assert_eq!(check(dir.path(), "txn_003").status.code(), Some(0));
    let verify = run(dir.path(), &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", said(&verify));
    assert!(said(&verify).contains("warning"), "{}", said(&verify));
}

/// The record of how far the trail is on disk is sealed: edited, it is a break; removed from a
/// trail whose lines say they were synced, it is a break too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_of_what_was_on_disk_is_sealed_and_required() {
    const KEY: &str = "audit-key-canary-5e3c";
    let mock = crate::helpers::ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        paystat(dir.path())
            .env("PAYSTAT_AUDIT_KEY", KEY)
            .args(args)
            .output()
            .unwrap()
    };
    let base = mock.base_url(GatewayKind::Ledger);
    assert_eq!(
        run(&["check", "--base-url", &base, "txn_001"])
            .status
            .code(),
        Some(0)
    );
    let record = dir.path().join("state/paystat/audit/durable.json");
    let original = std::fs::read_to_string(&record).expect("a durable record is written");
    assert!(original.contains("\"seq\":1"), "{original}");
    assert!(!original.contains(KEY));
    assert_eq!(run(&["audit", "verify"]).status.code(), Some(0));
    std::fs::write(&record, original.replace("\"seq\":1", "\"seq\":0")).unwrap();
    let verify = run(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("does not match its seal"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    std::fs::remove_file(&record).unwrap();
    let verify = run(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("durable.json"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// The chain's first line counts the lines without chain fields before it: a legacy-looking
/// line planted before the first line of a trail that began chained is a break, and so is one
/// added to a trail that began after legacy lines. A chain begun by a paystat that did not count
/// them leaves its legacy lines unverified, and verify says so.
#[test]
fn a_line_planted_before_the_chain_is_found_by_the_count_its_first_line_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    write_trail(&path, 3, Sealer::plain());
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{LEGACY}{text}")).unwrap();
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Inserted, Some(3))),
        "two lines planted before a chain that began with none"
    );

    // A legacy file whose last line lacks its newline: the line is counted, ended, and the chain
    // (beginning with the repair that records it) says so.
    let path = dir.path().join("unended.jsonl");
    std::fs::write(&path, LEGACY.trim_end()).unwrap();
    write_trail(&path, 1, Sealer::plain());
    let report = verify_file(&path, &plain());
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.legacy, 2);

    let path = dir.path().join("upgraded.jsonl");
    std::fs::write(&path, LEGACY).unwrap();
    write_trail(&path, 2, Sealer::plain());
    let report = verify_file(&path, &plain());
    assert_eq!(report.broken, None, "{report:?}");
    assert!(
        !report.legacy_unverified,
        "counted by the chain's first line"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let one = LEGACY.lines().next().unwrap();
    std::fs::write(&path, format!("{one}\n{text}")).unwrap();
    assert_eq!(
        first_break(&verify_file(&path, &plain())),
        Some((BreakKind::Inserted, Some(4)))
    );

    // A chain begun before the count: its legacy lines are shown as unverified, never intact.
    let path = dir.path().join("older.jsonl");
    std::fs::write(&path, LEGACY).unwrap();
    write_trail(&path, 2, Sealer::plain());
    let mut lines = lines_of(&path);
    // As a paystat before the count wrote it: format 2, no count; the next line re-chained.
    let reseal = |line: &str| {
        let (body, _) = paystat::audit_trail::chain::unseal(line.as_bytes()).unwrap();
        Sealer::plain().seal(body)
    };
    let older = lines[2]
        .replace(r#""v":3,"#, r#""v":2,"#)
        .replace(r#""legacy_before":2,"#, "");
    assert_ne!(older, lines[2]);
    let (first, hash) = reseal(&older);
    lines[2] = String::from_utf8(first).unwrap();
    let prev = lines[3].split(r#""prev":""#).nth(1).unwrap()[..64].to_owned();
    let (second, _) = reseal(&lines[3].replace(&prev, &hash));
    lines[3] = String::from_utf8(second).unwrap();
    write_lines(&path, &lines);
    let report = verify_file(&path, &plain());
    assert_eq!(report.broken, None, "{report:?}");
    assert!(report.legacy_unverified);
    let out = paystat(dir.path())
        .args(["audit", "verify", "--audit-log"])
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("unverified") && !said.contains("intact"),
        "{said}"
    );
}

/// A reused answer's line names the line it copies; verify compares them, accepts a copy of a
/// line pruned since (what it copied is gone with retention, and the prune line says so), and
/// refuses a line that claims to copy a later one.
#[test]
fn copies_are_checked_against_their_originals_and_pruned_originals_are_accepted() {
    use paystat::audit_trail::LineRef;
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    std::fs::create_dir_all(&trail).unwrap();
    let found = |id: &str, source: paystat::Source| {
        let mut result = CheckResult::new(id, Some(GatewayKind::Ledger), Outcome::Found);
        result.status = Some(paystat::PaymentStatus::Completed);
        result.source = source;
        result
    };
    let mut prev = GENESIS.to_owned();
    let mut hashes = Vec::new();
    let mut write_day = |day: &str, lines: &[(u64, CheckResult, Option<LineRef>)]| {
        let mut text = String::new();
        for (seq, result, copy_of) in lines {
            let mut record = crate::helpers::fixed_record(
                &prev,
                *seq,
                &format!("{day}T12:00:0{seq}.000Z"),
                result,
            );
            record.copy_of = copy_of.clone().map(std::borrow::Cow::Owned);
            let (line, hash) = crate::helpers::seal(&record);
            text.push_str(&line);
            text.push('\n');
            hashes.push(hash.clone());
            prev = hash;
        }
        std::fs::write(trail.join(format!("{day}.jsonl")), text).unwrap();
        hashes.clone()
    };
    let first = write_day(
        "2025-01-01",
        &[
            (1, found("txn_1", paystat::Source::Gateway), None),
            (2, found("txn_2", paystat::Source::Gateway), None),
        ],
    );
    let copy = |seq: u64| LineRef {
        seq,
        hash: first[seq as usize - 1].clone(),
    };
    write_day(
        "2026-11-20",
        &[
            (3, found("txn_1", paystat::Source::Cache), Some(copy(1))),
            (4, found("txn_2", paystat::Source::Cache), Some(copy(2))),
        ],
    );
    let location = Location::Days(trail.clone());
    let report = verify::verify(&location, &plain()).unwrap();
    assert_eq!(report.broken, None);
    assert!(
        !report.legacy_unverified,
        "a format-2 chain with no legacy line has nothing unverified"
    );
    // A break after the copies is still the break, whatever the copies say.
    let day = trail.join("2026-11-20.jsonl");
    let intact = std::fs::read_to_string(&day).unwrap();
    std::fs::write(&day, intact.replacen("txn_2", "txn_9", 1)).unwrap();
    assert_eq!(
        verify::verify(&location, &plain())
            .unwrap()
            .broken
            .map(|b| b.kind),
        Some(BreakKind::Edited)
    );
    std::fs::write(&day, &intact).unwrap();
    // Both originals pruned (through seq 2): the copies stand.
    let today = time::macros::date!(2026 - 11 - 27);
    let pruned = recording_trail(&location)
        .prune(today, 400, None, false)
        .unwrap();
    let checkpoint = pruned.checkpoint.unwrap();
    assert_eq!(checkpoint.seq, 2);
    let report = verify::verify(&location, &plain()).unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    // A durable record that names a line pruned since stands too.
    let sealed = format!(
        "paystat durable\n2025-01-01.jsonl\n1000\n2\n{}",
        checkpoint.hash
    );
    let record = serde_json::json!({
        "file": "2025-01-01.jsonl", "length": 1000, "seq": 2, "hash": checkpoint.hash,
        "seal": Sealer::plain().hash(sealed.as_bytes()),
    });
    std::fs::write(trail.join("durable.json"), record.to_string()).unwrap();
    let report = verify::verify(&location, &plain()).unwrap();
    assert_eq!(report.broken, None, "{report:?}");

    // A line that claims to copy a line after it.
    let later = dir.path().join("later");
    std::fs::create_dir_all(&later).unwrap();
    let cached = found("txn_1", paystat::Source::Cache);
    let mut record = crate::helpers::fixed_record(GENESIS, 1, "2026-11-20T12:00:00.000Z", &cached);
    record.copy_of = Some(std::borrow::Cow::Owned(LineRef {
        seq: 1,
        hash: GENESIS.to_owned(),
    }));
    let (line, _) = crate::helpers::seal(&record);
    std::fs::write(later.join("2026-11-20.jsonl"), line + "\n").unwrap();
    let broken = verify::verify(&Location::Days(later), &plain())
        .unwrap()
        .broken
        .unwrap();
    assert_eq!(broken.kind, BreakKind::Inserted, "{broken:?}");
}

/// A keyed trail whose last lines are in a compressed day file (nothing written for a while,
/// `compress_after` passed) is still known to be keyed: a run without the key refuses to append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_trail_behind_a_compressed_day_still_refuses_a_keyless_append() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit");
    let location = Location::Days(trail.clone());
    let open = |sealer: Sealer| {
        AuditTrail::open_at(
            location.clone(),
            TrailOptions {
                sealer,
                durability: paystat::audit_trail::Durability::Os,
                ..TrailOptions::new("compressed")
            },
        )
    };
    let keyed = open(Sealer::keyed(SecretString::from("audit-key-canary-9c41"))).unwrap();
    let result = CheckResult::new("txn_001", Some(GatewayKind::Ledger), Outcome::NotFound);
    keyed.record(&result, &Asked::default()).await.unwrap();
    let today = keyed.path();
    drop(keyed);
    // That day, long ago and compressed.
    let old = trail.join("2025-06-01.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&old).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&std::fs::read(&today).unwrap()).unwrap();
    gz.finish().unwrap();
    std::fs::remove_file(&today).unwrap();
    // Refused when the trail is opened (before any request), as for an uncompressed day.
    let refused = match open(Sealer::plain()) {
        Ok(keyless) => keyless.record(&result, &Asked::default()).await,
        Err(e) => Err(e),
    };
    assert!(
        matches!(refused, Err(paystat::AuditError::KeyNeeded { .. })),
        "{refused:?}"
    );
}
