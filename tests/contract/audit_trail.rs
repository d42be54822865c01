//! The audit trail: one whole line per check, even under concurrency and hostile ids, and no
//! result without its line.

use std::collections::BTreeSet;

use paystat::{AuditTrail, GatewayKind, Outcome};

use crate::helpers::{FullDisk, audit_lines, checker_for, ledger_mock, spawn};

/// Checks txn_001 with its audit file on a full disk that already holds `earlier`; returns the
/// file as it is afterwards, or `None` (said on stderr) where no small filesystem can be mounted.
async fn withheld_on_a_full_disk(earlier: &str, test: &str) -> Option<Vec<u8>> {
    let disk = match FullDisk::mount_with(Some(("audit.jsonl", earlier.as_bytes()))) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped {test}: {why}");
            return None;
        }
    };
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(
        dir.path(),
        GatewayKind::Ledger,
        &mock.base_url(GatewayKind::Ledger),
    )
    .audit_path(&disk.path("audit.jsonl"))
    .build();
    checker
        .check("txn_001")
        .await
        .expect_err("the line did not fit, so the result is withheld");
    Some(std::fs::read(disk.path("audit.jsonl")).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_write_whole_lines() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(
        dir.path(),
        GatewayKind::Ledger,
        &mock.base_url(GatewayKind::Ledger),
    )
    .concurrency(32)
    .build();
    // Known, unknown and hostile ids, many times over.
    let ids: Vec<String> = (0..300)
        .map(|i| match i % 4 {
            0 => "txn_001".to_owned(),
            1 => format!("txn_missing_{i}"),
            2 => format!("txn_{i}\"quoted\"\n{{\"forged\": true}}"),
            _ => format!("txn_{i}/../txn_001"),
        })
        .collect();
    let results = checker.check_all(&ids).await;
    assert_eq!(results.len(), ids.len());
    for (id, result) in ids.iter().zip(&results) {
        assert_eq!(
            &result.as_ref().unwrap().payment_id,
            id,
            "results keep the order of the ids"
        );
    }
    let raw = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(
        raw.lines().count(),
        ids.len(),
        "one line per check, none split or merged"
    );
    let lines = audit_lines(dir.path());
    let logged: BTreeSet<&str> = lines.iter().map(|l| l.check.payment_id.as_str()).collect();
    let asked: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(logged, asked);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.check.outcome == Outcome::Found)
            .count(),
        75
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.check.outcome == Outcome::InvalidId)
            .count(),
        75
    );
}

#[tokio::test]
async fn a_full_disk_withholds_the_result() {
    let disk = match FullDisk::mount() {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped a_full_disk_withholds_the_result: {why}");
            return;
        }
    };
    let mock = ledger_mock().await;
    let audit = disk.path("audit.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(
        dir.path(),
        GatewayKind::Ledger,
        &mock.base_url(GatewayKind::Ledger),
    )
    .audit_path(&audit)
    .build();
    let err = checker
        .check("txn_001")
        .await
        .expect_err("an unaudited result must not be returned");
    assert_eq!(err.payment_id, "txn_001");
    let mut message = err.to_string();
    let mut cause: Option<&dyn std::error::Error> = Some(&err.source);
    while let Some(e) = cause {
        message.push_str(&format!(": {e}"));
        cause = e.source();
    }
    assert!(
        message.contains("withheld") && message.contains("No space left on device"),
        "{message}"
    );
    // The same holds for an id rejected locally: no answer of any kind escapes unaudited.
    assert!(checker.check("").await.is_err());
}

#[tokio::test]
async fn a_write_that_fails_half_way_leaves_no_torn_line() {
    // 3,990 bytes of earlier lines: the next line fits only partly into the last block of a
    // full disk, so the write fails half way through.
    let earlier = "{\"earlier\":\"line\"}\n".repeat(210);
    let Some(after) =
        withheld_on_a_full_disk(&earlier, "a_write_that_fails_half_way_leaves_no_torn_line").await
    else {
        return;
    };
    assert_eq!(
        after.len(),
        earlier.len(),
        "the file is as it was: no half line"
    );
    assert!(after.ends_with(b"\n"));
}

#[tokio::test]
async fn after_the_first_audit_failure_no_request_leaves_paystat() {
    let disk = match FullDisk::mount() {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped after_the_first_audit_failure_no_request_leaves_paystat: {why}");
            return;
        }
    };
    let server = httpmock::MockServer::start_async().await;
    let asked = server
        .mock_async(|when, then| {
            when.path_prefix("/v1/payments/");
            then.status(200)
                .body(r#"{"id": "x", "status": "completed", "amount": 1, "currency": "USD"}"#);
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(dir.path(), GatewayKind::Ledger, &server.url("/v1"))
        .audit_path(&disk.path("audit.jsonl"))
        .concurrency(1)
        .build();
    let ids: Vec<String> = (0..5).map(|i| format!("txn_{i}")).collect();
    let results = checker.check_all(&ids).await;
    assert!(
        results.iter().all(Result::is_err),
        "nothing unaudited is shown"
    );
    assert_eq!(
        asked.calls_async().await,
        1,
        "only the first check was sent"
    );
    let not_checked = results
        .iter()
        .filter(|r| {
            r.as_ref()
                .is_err_and(|e| e.source.to_string().contains("not sent"))
        })
        .count();
    assert_eq!(not_checked, 4, "{results:?}");
}

#[test]
fn an_audit_path_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A FIFO used to hang the run forever (opening it for writing waits for a reader).
    let fifo = dir.path().join("audit.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let err = AuditTrail::open(&fifo, "ops".into())
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("it is a FIFO, not a regular file"), "{err}");
    let err = AuditTrail::open("/dev/null".as_ref(), "ops".into())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a character device"), "{err}");
    let err = AuditTrail::open(dir.path(), "ops".into())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a directory"), "{err}");
}

#[test]
fn a_symlinked_audit_path_is_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.jsonl");
    std::fs::write(&target, "").unwrap();
    let link = dir.path().join("audit.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let trail = AuditTrail::open(&link, "ops".into()).unwrap();
    assert_eq!(trail.path(), target.canonicalize().unwrap());
    assert_eq!(trail.link(), Some(link.as_path()));
}

#[tokio::test]
async fn an_audit_file_deleted_or_replaced_during_a_run_stops_the_answers() {
    let mock = ledger_mock().await;
    for replace in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let checker = checker_for(
            dir.path(),
            GatewayKind::Ledger,
            &mock.base_url(GatewayKind::Ledger),
        );
        checker
            .check("txn_001")
            .await
            .expect("the first line is written");
        let path = dir.path().join("audit.jsonl");
        std::fs::remove_file(&path).unwrap();
        if replace {
            std::fs::write(&path, "someone else's file\n").unwrap();
        }
        let err = checker
            .check("txn_002")
            .await
            .expect_err("a line written to an unlinked file would be lost");
        assert!(
            err.source
                .to_string()
                .contains("was deleted or replaced during the run"),
            "{}",
            err.source
        );
        if replace {
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                "someone else's file\n",
                "the other file is left alone"
            );
        }
    }
}

#[test]
fn an_audit_file_that_cannot_be_opened_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("audit.jsonl");
    let err = AuditTrail::open(&missing, "ops".into()).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot open the audit log"),
        "{err}"
    );
    // A directory where the file should be.
    let err = AuditTrail::open(dir.path(), "ops".into()).unwrap_err();
    assert!(
        err.to_string().contains("cannot open the audit log"),
        "{err}"
    );
}

#[tokio::test]
async fn lines_are_appended_never_truncated() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("audit.jsonl"), "{\"earlier\":\"line\"}\n").unwrap();
    let checker = checker_for(
        dir.path(),
        GatewayKind::Ledger,
        &mock.base_url(GatewayKind::Ledger),
    );
    checker.check("txn_002").await.unwrap();
    let raw = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let lines: Vec<&str> = raw.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], "{\"earlier\":\"line\"}");
    assert!(lines[1].contains("\"payment_id\":\"txn_002\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_one_trail_line_by_line() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("shared.jsonl");
    let ids: Vec<String> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                "txn_001".into()
            } else {
                format!("txn_missing_{i}")
            }
        })
        .collect();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            crate::helpers::paystat(dir.path())
                .args([
                    "check",
                    "--base-url",
                    &mock.base_url(GatewayKind::Ledger),
                    "--format",
                    "json",
                ])
                .arg("--audit-log")
                .arg(&audit)
                .args(&ids)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let output = run.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "txn_missing_… are not found: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 600, "3 processes × 200 checks");
    for line in lines {
        let record: paystat::AuditRecord = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a torn or glued line: {e}: {line}"));
        assert!(ids.contains(&record.check.payment_id));
    }
}

#[tokio::test]
async fn lines_are_synced_to_disk_by_default_and_an_os_only_run_says_so() {
    let mock = ledger_mock().await;
    let ids: Vec<String> = (0..40).map(|i| format!("txn_{i}")).collect();

    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(
        dir.path(),
        GatewayKind::Ledger,
        &mock.base_url(GatewayKind::Ledger),
    )
    .concurrency(16)
    .build();
    let results = checker.check_all(&ids).await;
    assert!(results.iter().all(Result::is_ok));
    let syncs = checker.audit_trail().syncs();
    assert!(
        (1..=40).contains(&syncs),
        "every line was synced before its answer, some sharing a sync: {syncs} syncs"
    );
    let text = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(!text.contains("\"sync\""), "a synced line does not say so");

    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::open_with(
        &dir.path().join("audit.jsonl"),
        "contract-test".into(),
        paystat::audit_trail::Durability::Os,
    )
    .unwrap();
    assert_eq!(trail.syncs(), 0);
    let output = crate::helpers::paystat(dir.path())
        .args([
            "check",
            "--base-url",
            &mock.base_url(GatewayKind::Ledger),
            "--audit-sync",
            "os",
            "txn_001",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let line = crate::helpers::live_trail(dir.path());
    assert!(line.contains("\"sync\":\"os\""), "{line}");
}

#[tokio::test]
async fn a_fragment_left_by_a_crash_is_kept_closed_and_recorded() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // A crash (or an older paystat on a full disk) left half a line without its newline.
    std::fs::write(
        &path,
        "{\"event\":\"payment.status_check\",\"payment_id\":\"txn_0",
    )
    .unwrap();
    let checker = checker_for(
        dir.path(),
        GatewayKind::Ledger,
        &mock.base_url(GatewayKind::Ledger),
    );
    checker.check("txn_001").await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0], "{\"event\":\"payment.status_check\",\"payment_id\":\"txn_0",
        "the fragment is kept as evidence"
    );
    let repair: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(repair["event"], "audit.repair");
    assert_eq!(repair["fragment_bytes"], 51);
    let check: paystat::AuditRecord = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(
        check.check.payment_id, "txn_001",
        "the next line is whole, not glued on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_text_is_bounded_in_the_result_and_the_line() {
    // A ledger that answers with a 900 KB status word and a 300-character request id.
    let word = "x".repeat(900_000);
    let server = httpmock::MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/v1/payments/txn_001");
            then.status(200)
                .header("content-type", "application/json")
                .header("x-request-id", "r".repeat(300))
                .body(format!(
                    r#"{{"id": "txn_001", "status": "{word}", "amount": 1.00, "currency": "USD"}}"#
                ));
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let checker = checker_for(
        dir.path(),
        GatewayKind::Ledger,
        &format!("{}/v1", server.base_url()),
    );
    let result = checker.check("txn_001").await.unwrap();
    let status = result.gateway_status.clone().unwrap();
    assert!(
        status.starts_with(&"x".repeat(256)),
        "{}",
        &status[..300.min(status.len())]
    );
    assert!(status.ends_with("… [cut: 900000 characters]"), "{status}");
    assert_eq!(
        status.chars().count(),
        256 + "… [cut: 900000 characters]".chars().count()
    );
    let request_id = result.gateway_request_id.as_deref().unwrap();
    assert!(
        request_id.ends_with("… [cut: 300 characters]"),
        "{request_id}"
    );
    let line = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        line.len() < 4096,
        "a line of normal size: {} bytes",
        line.len()
    );
    assert_eq!(
        *audit_lines(dir.path())[0].check,
        result,
        "the line is the result"
    );
}

#[tokio::test]
async fn an_audit_failure_is_recorded_in_the_trail_where_a_line_still_fits() {
    // About 700 bytes left in the file's last block of a full disk: the check's line (over a
    // kilobyte) does not fit, the shorter line recording the failure does.
    let earlier = "{\"earlier\":\"line\"}\n".repeat(179);
    let test = "an_audit_failure_is_recorded_in_the_trail_where_a_line_still_fits";
    let Some(after) = withheld_on_a_full_disk(&earlier, test).await else {
        return;
    };
    let after = String::from_utf8(after).unwrap();
    let last = after.strip_prefix(&earlier).unwrap();
    assert!(last.ends_with('\n') && last.lines().count() == 1, "{last}");
    let note: serde_json::Value = serde_json::from_str(last.trim_end()).unwrap();
    assert_eq!(note["event"], "audit.halted");
    assert_eq!(note["payment_id"], "txn_001");
    assert!(
        note["error"]
            .as_str()
            .unwrap()
            .contains("cannot write to the audit log"),
        "{note}"
    );
}

/// `n` lines handed to `trail` together, as the checks that are ready at one moment hand
/// theirs in: one append writes them all. Returns each line's outcome, in order.
fn written_together(
    trail: &AuditTrail,
    n: usize,
) -> Vec<Result<paystat::audit_trail::Written, paystat::AuditError>> {
    let results: Vec<paystat::CheckResult> = (0..n)
        .map(|i| {
            paystat::CheckResult::new(
                format!("txn_{i:03}"),
                Some(GatewayKind::Ledger),
                Outcome::NotFound,
            )
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let asked = paystat::audit_trail::Asked::default();
    runtime.block_on(futures_util::future::join_all(
        results.iter().map(|r| trail.write(r, &asked)),
    ))
}

#[test]
fn lines_handed_in_together_are_appended_in_order_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let trail = AuditTrail::open(&path, "ops".into()).unwrap();
    let written = written_together(&trail, 20);
    assert!(written.iter().all(Result::is_ok));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for line in written {
        runtime.block_on(line.unwrap().durable()).unwrap();
    }
    let lines = audit_lines(dir.path());
    let ids: Vec<&str> = lines.iter().map(|l| l.check.payment_id.as_str()).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("txn_{i:03}")).collect();
    assert_eq!(ids, expected, "in the order they were handed in");
    let report = paystat::audit_trail::verify::verify(
        &paystat::audit_trail::Location::File(path.clone()),
        &paystat::audit_trail::verify::VerifyOptions::default(),
    )
    .unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    assert_eq!(report.lines, 20);
}

#[test]
fn an_append_that_fills_the_disk_keeps_the_whole_lines_and_withholds_the_rest() {
    // One byte in the file's block: about three lines fit in the rest of it, the fourth is torn.
    let disk = match FullDisk::mount_with(Some(("audit.jsonl", b"\n"))) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!(
                "skipped an_append_that_fills_the_disk_keeps_the_whole_lines_and_withholds_the_rest: {why}"
            );
            return;
        }
    };
    let path = disk.path("audit.jsonl");
    let trail =
        paystat::AuditTrail::open_with(&path, "ops".into(), paystat::audit_trail::Durability::Os)
            .unwrap();
    let written = written_together(&trail, 10);
    let kept = written.iter().take_while(|w| w.is_ok()).count();
    assert!(kept > 0 && kept < 10, "some lines fit, not all: {kept}");
    for failed in &written[kept..] {
        let error = failed.as_ref().unwrap_err();
        assert!(
            matches!(error, paystat::AuditError::Write { source, .. } if source.to_string().contains("No space left")),
            "{error:?}"
        );
    }
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(raw.ends_with('\n'), "no torn line");
    let lines: Vec<&str> = raw.lines().skip(1).collect();
    assert_eq!(
        lines.len(),
        kept,
        "exactly the lines reported written are in the file"
    );
    for (i, line) in lines.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["payment_id"], format!("txn_{i:03}"));
        assert_eq!(
            value["sync"], "os",
            "the trail was opened to hand lines to the OS only"
        );
    }
}

#[test]
fn a_line_whose_check_stopped_waiting_is_still_written() {
    use futures_util::FutureExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let trail = AuditTrail::open(&path, "ops".into()).unwrap();
    let result = paystat::CheckResult::new(
        "txn_001".to_owned(),
        Some(GatewayKind::Ledger),
        Outcome::NotFound,
    );
    let asked = paystat::audit_trail::Asked::default();
    // Handed in, then dropped before it was appended (a run torn down mid-check).
    assert!(trail.write(&result, &asked).now_or_never().is_none());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "",
        "not appended yet"
    );
    drop(trail);
    let lines = audit_lines(dir.path());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].check.payment_id, "txn_001");
}

#[test]
fn each_answer_waits_for_the_sync_of_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::open(&dir.path().join("audit.jsonl"), "ops".into()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in 1..=3 {
        let result = paystat::CheckResult::new(
            format!("txn_{n}"),
            Some(GatewayKind::Ledger),
            Outcome::NotFound,
        );
        runtime
            .block_on(trail.record(&result, &paystat::audit_trail::Asked::default()))
            .unwrap();
        // One line at a time: each was written after the last sync, so only a sync of its own
        // can have made it durable.
        assert!(
            trail.syncs() >= n,
            "line {n} returned after {} syncs",
            trail.syncs()
        );
    }
}
