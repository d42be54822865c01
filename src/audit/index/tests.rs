//! The tests of `audit::index`.

use super::*;

/// A line shaped as paystat writes one, ending with its hash (of the bytes before it).
fn line(seq: u64, at: &str, id: &str, gateway: &str, outcome: &str, source: &str) -> String {
    let body = unsealed(seq, at, id, gateway, outcome, source);
    let hash = crate::result::sha256_hex(body.as_bytes());
    format!("{body},\"hash\":\"{hash}\"}}\n")
}

fn unsealed(seq: u64, at: &str, id: &str, gateway: &str, outcome: &str, source: &str) -> String {
    format!(
        r#"{{"v":3,"seq":{seq},"prev":"00","chain":"sha256","timestamp":"{at}","event":"payment.status_check","actor":"a","os_user":"a","origin":{{"host":"h","pid":1}},"request":{{"method":"GET","path":"/v1/payments/x"}},"payment_id":{},"gateway":"{gateway}","outcome":"{outcome}","attempt_log":[{{"attempt":1,"outcome":"found"}}],"source":"{source}""#,
        serde_json::to_string(id).unwrap()
    )
}

#[test]
fn a_files_ids_are_found_by_binary_search() {
    let mut ids: Vec<i64> = (0..1000).map(|i| key(&format!("txn_{i}"))).collect();
    ids.push(i64::MIN);
    ids.push(i64::MAX);
    ids.sort_unstable();
    let blob = encode(&ids);
    assert_eq!(decode(&blob), ids);
    for id in &ids {
        assert!(holds(&blob, *id));
    }
    for i in 1000..1100 {
        assert!(!holds(&blob, key(&format!("txn_{i}"))));
    }
    assert!(!holds(&[], 0));
    assert!(holds(&encode(&[7]), 7) && !holds(&encode(&[7]), 8));
}

#[test]
fn reading_a_line_quickly_agrees_with_parsing_it() {
    for text in [
        line(1, "2026-10-01T10:00:00.000Z", "txn_1", "ledger", "timeout", "gateway"),
        line(2, "2026-10-01T10:00:00.000Z", "a\"b\\c", "stripe", "found", "cache"),
        line(3, "2026-10-01T10:30:00.000Z", "pi_1", "stripe", "gateway_error", "gateway"),
        r#"{"v":3,"seq":4,"timestamp":"2026-10-01T11:00:00.000Z","event":"audit.prune","actor":"a"}"#.to_owned(),
        r#"{"timestamp":"2026-10-01T11:00:00Z","payment_id":"old","outcome":"found","event":"payment.status_check"}"#.to_owned(),
    ] {
        let bytes = text.trim_end().as_bytes();
        let parsed = Seen::parsed(bytes).unwrap();
        let seen = Seen::of(bytes).unwrap();
        assert_eq!(seen.payment_id, parsed.payment_id, "{text}");
        assert_eq!(seen.gateway, parsed.gateway, "{text}");
        assert_eq!(seen.hour, parsed.hour, "{text}");
        assert_eq!(seen.asked, parsed.asked, "{text}");
        assert_eq!(seen.counts, parsed.counts, "{text}");
    }
    // The quick reading is the one taken for paystat's own lines: the top-level outcome,
    // not the attempt's.
    let text = line(
        1,
        "2026-10-01T10:00:00.000Z",
        "txn_1",
        "ledger",
        "timeout",
        "gateway",
    );
    let quick = Seen::quick(text.trim_end().as_bytes()).unwrap();
    assert_eq!(quick.counts.timeouts, 1);
    assert_eq!(quick.payment_id.as_deref(), Some("txn_1"));
    assert!(
        Seen::quick(line(2, "2026-10-01T10:00:00Z", "a\"b", "x", "found", "gateway").as_bytes())
            .is_none()
    );
}

#[test]
fn the_index_names_the_files_of_a_payment_and_follows_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let day = |d: u32| dir.path().join(format!("2026-10-{d:02}.jsonl"));
    std::fs::write(
        day(1),
        line(
            1,
            "2026-10-01T10:00:00.000Z",
            "txn_a",
            "ledger",
            "timeout",
            "gateway",
        ) + &line(
            2,
            "2026-10-01T10:20:00.000Z",
            "txn_b",
            "ledger",
            "found",
            "gateway",
        ) + &line(
            6,
            "2026-10-01T10:40:00.000Z",
            "txn_e",
            "ledger",
            "gateway_error",
            "gateway",
        ),
    )
    .unwrap();
    std::fs::write(
        day(2),
        line(
            3,
            "2026-10-02T09:00:00.000Z",
            "txn_b",
            "ledger",
            "found",
            "cache",
        ),
    )
    .unwrap();
    let location = Location::Days(dir.path().to_owned());
    let names = |index: &Index, id: &str| -> Vec<String> {
        index
            .files_naming(id)
            .unwrap()
            .iter()
            .map(|p| name_of(p))
            .collect()
    };
    // An older day, compressed by `audit prune`.
    let gz = dir.path().join("2026-09-30.jsonl.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
    std::io::Write::write_all(
        &mut encoder,
        line(
            0,
            "2026-09-30T10:00:00.000Z",
            "txn_gz",
            "plaid",
            "found",
            "gateway",
        )
        .as_bytes(),
    )
    .unwrap();
    encoder.finish().unwrap();
    let size = |p: &Path| std::fs::read_to_string(p).unwrap().len() as u64;
    let index = Index::open(&location).unwrap();
    let gz_text = line(
        0,
        "2026-09-30T10:00:00.000Z",
        "txn_gz",
        "plaid",
        "found",
        "gateway",
    );
    assert_eq!(
        index.bytes_read(),
        size(&day(1)) + size(&day(2)) + gz_text.len() as u64,
        "a first index reads every file"
    );
    assert_eq!(names(&index, "txn_gz"), ["2026-09-30.jsonl.gz"]);
    assert_eq!(names(&index, "txn_a"), ["2026-10-01.jsonl"]);
    assert_eq!(
        names(&index, "txn_b"),
        ["2026-10-01.jsonl", "2026-10-02.jsonl"]
    );
    assert!(names(&index, "txn_c").is_empty());
    let hour = |h: &str| {
        time::OffsetDateTime::parse(h, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    };
    let counts = index
        .hours(
            "ledger",
            hour("2026-10-01T10:00:00Z"),
            hour("2026-10-01T10:59:00Z"),
        )
        .unwrap();
    assert_eq!(
        counts,
        HourCounts {
            checks: 3,
            answered: 1,
            timeouts: 1,
            errors: 1
        }
    );
    // A reused answer asked no gateway: not counted.
    assert_eq!(
        index
            .hours(
                "ledger",
                hour("2026-10-02T00:00:00Z"),
                hour("2026-10-02T23:00:00Z")
            )
            .unwrap()
            .checks,
        0
    );
    drop(index);
    // An index up to date reads nothing, compressed files included.
    let index = Index::open(&location).unwrap();
    assert_eq!(index.bytes_read(), 0);
    assert_eq!(names(&index, "txn_gz"), ["2026-09-30.jsonl.gz"]);
    drop(index);
    // A file that grew is read from where the index stopped; a torn last line waits.
    let mut grown = std::fs::read_to_string(day(2)).unwrap();
    grown.push_str(&line(
        4,
        "2026-10-02T09:10:00.000Z",
        "txn_c",
        "ledger",
        "found",
        "gateway",
    ));
    grown.push_str("{\"v\":3,\"seq\":5,\"payment_id\":\"txn_d");
    std::fs::write(day(2), &grown).unwrap();
    let index = Index::open(&location).unwrap();
    let added = line(
        4,
        "2026-10-02T09:10:00.000Z",
        "txn_c",
        "ledger",
        "found",
        "gateway",
    );
    assert_eq!(
        index.bytes_read(),
        added.len() as u64,
        "only the new line is read"
    );
    assert_eq!(names(&index, "txn_c"), ["2026-10-02.jsonl"]);
    assert!(names(&index, "txn_d").is_empty());
    assert_eq!(
        names(&index, "txn_b"),
        ["2026-10-01.jsonl", "2026-10-02.jsonl"]
    );
    drop(index);
    // Once the torn line is finished, it is read, and only it.
    let torn = "{\"v\":3,\"seq\":5,\"payment_id\":\"txn_d";
    let rest = "\",\"timestamp\":\"2026-10-02T09:20:00.000Z\",\"gateway\":\"ledger\"}\n";
    grown.push_str(rest);
    std::fs::write(day(2), &grown).unwrap();
    let index = Index::open(&location).unwrap();
    assert_eq!(index.bytes_read(), (torn.len() + rest.len()) as u64);
    assert_eq!(names(&index, "txn_d"), ["2026-10-02.jsonl"]);
    drop(index);
    let index = Index::open(&location).unwrap();
    assert_eq!(
        index.bytes_read(),
        0,
        "what was read is where the index stands"
    );
    drop(index);
    // A file whose indexed end changed (same length, other bytes) is read again; a gone one
    // is forgotten. (An edit further from the end that keeps the last bytes is tampering the
    // index does not look for: `audit verify` finds it, `--no-index` reads past it.)
    std::fs::write(
        day(1),
        line(
            1,
            "2026-10-01T10:00:00.000Z",
            "txn_b",
            "ledger",
            "timeout",
            "gateway",
        ) + &line(
            2,
            "2026-10-01T10:20:00.000Z",
            "txn_a",
            "ledger",
            "found",
            "gateway",
        ),
    )
    .unwrap();
    let original = std::fs::read_to_string(day(1)).unwrap();
    let changed = original.lines().next().unwrap().to_owned()
        + "\n"
        + &line(
            2,
            "2026-10-01T10:20:00.000Z",
            "txn_z",
            "ledger",
            "found",
            "gateway",
        );
    assert_eq!(changed.len(), original.len());
    std::fs::write(day(1), changed).unwrap();
    std::fs::remove_file(day(2)).unwrap();
    let index = Index::open(&location).unwrap();
    assert_eq!(names(&index, "txn_z"), ["2026-10-01.jsonl"]);
    assert_eq!(
        index.bytes_read(),
        size(&day(1)),
        "the changed file is read whole"
    );
    assert!(
        names(&index, "txn_a").is_empty(),
        "the old id is gone with the old bytes"
    );
    assert!(names(&index, "txn_c").is_empty());
    let counts = index.hours("ledger", 0, i64::MAX / 2).unwrap();
    assert_eq!(counts.checks, 2, "the gone file's hours are forgotten");
    drop(index);
    // A file whose end changed and that grew too is read whole, not from where it was.
    let first = std::fs::read_to_string(day(1)).unwrap();
    let first = first.lines().next().unwrap().to_owned() + "\n";
    let rewritten = first
        + &line(
            2,
            "2026-10-01T10:20:00.000Z",
            "txn_y",
            "ledger",
            "found",
            "gateway",
        )
        + &line(
            7,
            "2026-10-01T10:30:00.000Z",
            "txn_x",
            "ledger",
            "found",
            "gateway",
        );
    std::fs::write(day(1), &rewritten).unwrap();
    let index = Index::open(&location).unwrap();
    assert_eq!(index.bytes_read(), rewritten.len() as u64);
    assert_eq!(names(&index, "txn_y"), ["2026-10-01.jsonl"]);
    assert!(names(&index, "txn_z").is_empty());
    // The index is its owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path_of(&location))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}
