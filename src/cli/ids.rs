//! Payment ids in, lazily: from the arguments, standard input (`-`) or `--ids-file`, as a plain
//! list or CSV. A reader thread parses the input and hands ids over a bounded channel, so memory
//! does not grow with the input and the first check starts before the input is read to its end.
//!
//! CSV: the first row is a header when one of its cells is `payment_id` or `id` (or the cell
//! `--column` names); the ids are in the `--column` column, else `payment_id`, else `id`, else the
//! first. Without a header every row's first cell is an id. Blank lines and lines starting with
//! `#` are skipped; cells are trimmed.

use std::io::Read;

use futures_util::Stream;

/// How many batches of ids wait between the reader and the checks, at most.
const QUEUE: usize = 16;
/// The most ids handed over at once: the reader wakes the checks once per batch, not per id.
const BATCH: usize = 128;

/// Where ids come from.
pub enum IdSource {
    /// Given as arguments.
    Args(Vec<String>),
    /// Read from a file or standard input.
    Reader(Box<dyn Read + Send>),
}

/// One item of the input: an id, or why the input cannot be read (then the input ends).
pub type Item = Result<String, String>;

/// The ids of `source`, in input order, as they are read.
pub fn stream(source: IdSource, column: Option<String>) -> impl Stream<Item = Item> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(QUEUE);
    match source {
        IdSource::Args(ids) => {
            // Already in memory: no thread.
            return futures_util::stream::iter(ids.into_iter().map(Ok)).left_stream();
        }
        IdSource::Reader(reader) => {
            std::thread::Builder::new()
                .name("paystat-ids".into())
                .spawn(move || read(reader, column.as_deref(), &tx))
                .expect("a thread for reading ids starts");
        }
    }
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .flat_map(futures_util::stream::iter)
        .right_stream()
}

use futures_util::StreamExt as _;

/// Reads `reader` to its end (or until the checks stop listening), sending ids to `tx` in
/// batches; a batch goes at once when the checks are waiting for ids (the channel is empty),
/// so a slow input is never held back.
fn read(
    reader: Box<dyn Read + Send>,
    column: Option<&str>,
    tx: &tokio::sync::mpsc::Sender<Vec<Item>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let send = |item: Option<Item>, batch: &mut Vec<Item>| -> bool {
        let end = item.is_none();
        batch.extend(item);
        if end || batch.len() >= BATCH || tx.capacity() == tx.max_capacity() {
            if batch.is_empty() {
                return true;
            }
            let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
            return tx.blocking_send(full).is_ok();
        }
        true
    };
    read_into(reader, column, &mut |item| send(item, &mut batch));
}

/// Parses the input, calling `send` with each id (or error) and `None` at the end; stops when
/// `send` says the checks stopped listening.
fn read_into(
    reader: Box<dyn Read + Send>,
    column: Option<&str>,
    send: &mut dyn FnMut(Option<Item>) -> bool,
) {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(reader);
    let mut record = csv::StringRecord::new();
    let mut index: Option<usize> = None;
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => {
                send(None);
                return;
            }
            Ok(true) => {}
            Err(e) => {
                send(Some(Err(unreadable(&e))));
                send(None);
                return;
            }
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        let column_index = match index {
            Some(i) => i,
            None => {
                // The first row: a header, or already an id.
                let header = header_index(&record, column);
                match (header, column) {
                    (Some(i), _) => {
                        index = Some(i);
                        continue;
                    }
                    (None, Some(name)) => {
                        send(Some(Err(format!(
                            "--column {name}: the input's first row has no such column (it is `{}`)",
                            paystat::payment_id::display_safe(
                                &record.iter().collect::<Vec<_>>().join(",")
                            )
                        ))));
                        send(None);
                        return;
                    }
                    (None, None) => {
                        index = Some(0);
                        0
                    }
                }
            }
        };
        let id = record.get(column_index).unwrap_or_default();
        if id.is_empty() {
            continue;
        }
        if !send(Some(Ok(id.to_owned()))) {
            // The run stopped taking ids.
            return;
        }
    }
}

/// Where the ids are when `record` is a header: the `column` cell, else `payment_id`, else `id`.
fn header_index(record: &csv::StringRecord, column: Option<&str>) -> Option<usize> {
    let find = |name: &str| record.iter().position(|cell| cell == name);
    match column {
        Some(name) => find(name),
        None => find("payment_id").or_else(|| find("id")),
    }
}

fn unreadable(error: &csv::Error) -> String {
    let line = error
        .position()
        .map(|p| format!(" (line {})", p.line()))
        .unwrap_or_default();
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => format!("the ids are not UTF-8 text{line}"),
        csv::ErrorKind::Io(e) => format!("cannot read the ids: {e}"),
        _ => format!("cannot read the ids{line}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(input: &str, column: Option<&str>) -> Vec<Item> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let source = IdSource::Reader(Box::new(std::io::Cursor::new(input.as_bytes().to_vec())));
        runtime.block_on(stream(source, column.map(str::to_owned)).collect())
    }

    fn ok(items: &[&str]) -> Vec<Item> {
        items.iter().map(|s| Ok((*s).to_owned())).collect()
    }

    #[test]
    fn a_plain_list_with_blanks_and_comments() {
        assert_eq!(
            ids("txn_001\n\n# a comment\n  txn_002  \ntxn_003", None),
            ok(&["txn_001", "txn_002", "txn_003"])
        );
    }

    #[test]
    fn csv_with_a_header_names_its_id_column() {
        let csv = "created,payment_id,amount\n2026-01-01,txn_1,5\n2026-01-02,txn_2,6\n";
        assert_eq!(ids(csv, None), ok(&["txn_1", "txn_2"]));
        let csv = "id,note\ntxn_1,\"a, quoted\"\n";
        assert_eq!(ids(csv, None), ok(&["txn_1"]));
        let csv = "ref,pi\nA,pi_1\nB,pi_2\n";
        assert_eq!(ids(csv, Some("pi")), ok(&["pi_1", "pi_2"]));
        assert!(ids(csv, Some("nope"))[0].is_err());
    }

    #[test]
    fn csv_without_a_header_reads_the_first_column() {
        assert_eq!(ids("txn_1,5\ntxn_2,6\n", None), ok(&["txn_1", "txn_2"]));
    }

    #[test]
    fn unreadable_input_is_one_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let source = IdSource::Reader(Box::new(std::io::Cursor::new(
            b"txn_1\n\xff\xfe\n".to_vec(),
        )));
        let items: Vec<Item> = runtime.block_on(stream(source, None).collect());
        assert_eq!(items[0], Ok("txn_1".to_owned()));
        assert!(
            items[1].as_ref().is_err_and(|e| e.contains("not UTF-8")),
            "{items:?}"
        );
    }
}
