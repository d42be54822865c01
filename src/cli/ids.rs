//! Payment ids in, lazily: from the arguments, standard input (`-`) or `--ids-file`, as a plain
//! list or CSV. A reader thread parses the input and hands ids over a bounded channel, so memory
//! does not grow with the input and the first check starts before the input is read to its end.
//!
//! CSV: the first row is a header when one of its cells is `payment_id` or `id` (or the cell
//! `--column` names); the ids are in the `--column` column, else `payment_id`, else `id`, else the
//! first. Without a header every row's first cell is an id. Blank lines are skipped, and lines
//! starting with `#` only with `--skip-comments` (`#1001` can be a real id); cells are trimmed.
//!
//! No id is lost without a word: a record that does not parse — a quote never closed, a row
//! too short to have the id column, an empty id, a line break or a lone carriage return inside
//! an id, text that is not UTF-8, a record longer than 64 KiB — ends the input with a sentence
//! naming its line; the ids before it are checked and shown. One record is bounded, so memory
//! stays flat whatever the input (`/dev/zero` included).

use std::io::{BufRead, Read};

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

/// The longest input record (a line, or the lines of one quoted CSV record).
pub const MAX_RECORD: usize = 64 * 1024;

/// How the ids are read.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// `--column`: the header cell naming the ids' column.
    pub column: Option<String>,
    /// `--skip-comments`: lines starting with `#` are comments, not ids.
    pub skip_comments: bool,
}

/// The ids of `source`, in input order, as they are read.
pub fn stream(source: IdSource, reading: Reading) -> impl Stream<Item = Item> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(QUEUE);
    match source {
        IdSource::Args(ids) => {
            // Already in memory: no thread.
            return futures_util::stream::iter(ids.into_iter().map(Ok)).left_stream();
        }
        IdSource::Reader(reader) => {
            std::thread::Builder::new()
                .name("paystat-ids".into())
                .spawn(move || read(reader, &reading, &tx))
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
    reading: &Reading,
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
    let mut records = Records::new(reader);
    match read_into(&mut records, reading, &mut |item| send(item, &mut batch)) {
        Ok(()) => {}
        Err(why) => {
            send(Some(Err(why)), &mut batch);
        }
    }
    send(None, &mut batch);
}

/// The input's records, each bounded to [`MAX_RECORD`] bytes, with the line each starts on.
struct Records {
    reader: std::io::BufReader<Box<dyn Read + Send>>,
    line: usize,
    buffer: Vec<u8>,
}

impl Records {
    fn new(reader: Box<dyn Read + Send>) -> Records {
        Records {
            reader: std::io::BufReader::with_capacity(64 * 1024, reader),
            line: 0,
            buffer: Vec::new(),
        }
    }

    /// Appends the next line to the buffer (without its line break); `false` at the end.
    fn next_line(&mut self) -> Result<bool, String> {
        let room = MAX_RECORD.saturating_sub(self.buffer.len()) as u64 + 1;
        let start = self.buffer.len();
        let read = (&mut self.reader)
            .take(room)
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| format!("cannot read the ids: {e}"))?;
        if read == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buffer.last() == Some(&b'\n') {
            self.buffer.pop();
            if self.buffer.last() == Some(&b'\r') && self.buffer.len() > start {
                self.buffer.pop();
            }
        } else if self.buffer.len() > MAX_RECORD {
            return Err(format!(
                "line {} of the input is longer than {} KiB; no payment id is that long",
                self.line,
                MAX_RECORD / 1024
            ));
        }
        Ok(true)
    }

    /// The next record as text, and the line it starts on; `None` at the end. A record with an
    /// open quote goes on over the next lines, up to [`MAX_RECORD`].
    fn next(&mut self) -> Result<Option<(String, usize)>, String> {
        self.buffer.clear();
        if !self.next_line()? {
            return Ok(None);
        }
        let first = self.line;
        while self.buffer.iter().filter(|b| **b == b'"').count() % 2 == 1 {
            self.buffer.push(b'\n');
            if !self.next_line()? {
                return Err(format!(
                    "line {first} of the input opens a quote that is never closed"
                ));
            }
        }
        match std::str::from_utf8(&self.buffer) {
            Ok(text) => Ok(Some((text.to_owned(), first))),
            Err(_) => Err(format!("line {first} of the input is not UTF-8 text")),
        }
    }
}

/// The trimmed cells of one record that starts on `line`.
fn cells(record: &str, line: usize) -> Result<Vec<String>, String> {
    if !record.contains('"') {
        if record.contains('\r') {
            return Err(format!(
                "line {line} of the input holds a carriage return (CR) inside it (save it with ordinary line breaks)"
            ));
        }
        return Ok(record.split(',').map(|c| c.trim().to_owned()).collect());
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(record.as_bytes());
    let mut parsed = csv::StringRecord::new();
    match csv.read_record(&mut parsed) {
        Ok(_) => Ok(parsed.iter().map(str::to_owned).collect()),
        Err(e) => Err(format!("line {line} of the input is not valid CSV: {e}")),
    }
}

/// Parses the records, calling `send` with each id; stops when `send` says the checks stopped
/// listening, or with the sentence that ends the input.
fn read_into(
    records: &mut Records,
    reading: &Reading,
    send: &mut dyn FnMut(Option<Item>) -> bool,
) -> Result<(), String> {
    let mut index: Option<usize> = None;
    while let Some((record, line)) = records.next()? {
        let trimmed = record.trim();
        if trimmed.is_empty() || (reading.skip_comments && trimmed.starts_with('#')) {
            continue;
        }
        let cells = cells(&record, line)?;
        let column_index = match index {
            Some(i) => i,
            None => {
                // The first row: a header, or already an id.
                match (
                    header_index(&cells, reading.column.as_deref()),
                    &reading.column,
                ) {
                    (Some(i), _) => {
                        index = Some(i);
                        continue;
                    }
                    (None, Some(name)) => {
                        return Err(format!(
                            "--column {name}: the input's first row has no such column (it is `{}`)",
                            paystat::payment_id::display_safe(&cells.join(","))
                        ));
                    }
                    (None, None) => {
                        index = Some(0);
                        0
                    }
                }
            }
        };
        let id = match cells.get(column_index) {
            Some(id) if !id.is_empty() => id,
            Some(_) => {
                return Err(format!(
                    "line {line} of the input has no id in column {}",
                    column_index + 1
                ));
            }
            None => {
                return Err(format!(
                    "line {line} of the input has {} cell{}, but the ids are in column {}",
                    cells.len(),
                    if cells.len() == 1 { "" } else { "s" },
                    column_index + 1
                ));
            }
        };
        if id.contains(['\n', '\r']) {
            return Err(format!(
                "line {line} of the input has a line break inside its id"
            ));
        }
        if !send(Some(Ok(id.clone()))) {
            // The run stopped taking ids.
            return Ok(());
        }
    }
    Ok(())
}

/// Where the ids are when `cells` is a header: the `column` cell, else `payment_id`, else `id`.
fn header_index(cells: &[String], column: Option<&str>) -> Option<usize> {
    let find = |name: &str| cells.iter().position(|cell| cell == name);
    match column {
        Some(name) => find(name),
        None => find("payment_id").or_else(|| find("id")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_with(input: &[u8], reading: Reading) -> Vec<Item> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let source = IdSource::Reader(Box::new(std::io::Cursor::new(input.to_vec())));
        runtime.block_on(stream(source, reading).collect())
    }

    fn ids(input: &str, column: Option<&str>) -> Vec<Item> {
        let reading = Reading {
            column: column.map(str::to_owned),
            skip_comments: false,
        };
        read_with(input.as_bytes(), reading)
    }

    fn ok(items: &[&str]) -> Vec<Item> {
        items.iter().map(|s| Ok((*s).to_owned())).collect()
    }

    #[test]
    fn a_plain_list_with_blanks_and_comments() {
        assert_eq!(
            ids("txn_001\r\n\n  txn_002  \n#1001\ntxn_003", None),
            ok(&["txn_001", "txn_002", "#1001", "txn_003"])
        );
        let skipping = Reading {
            column: None,
            skip_comments: true,
        };
        assert_eq!(
            read_with(b"txn_001\n# a comment\ntxn_002", skipping),
            ok(&["txn_001", "txn_002"])
        );
    }

    /// The ids before the broken record, then the one sentence naming its line.
    fn broken(input: &str) -> (Vec<String>, String) {
        let mut items = ids(input, None);
        let last = items
            .pop()
            .expect("an item")
            .expect_err("ends with an error");
        (items.into_iter().map(Result::unwrap).collect(), last)
    }

    #[test]
    fn a_record_that_does_not_parse_ends_the_input_naming_its_line() {
        for (input, before, said) in [
            (
                "txn_1\n\"txn_2\ntxn_3\ntxn_4\n",
                1,
                "line 2 of the input opens a quote that is never closed",
            ),
            (
                "txn_1\ntxn_c\rd\n",
                1,
                "line 2 of the input holds a carriage return",
            ),
            (
                "id,amount\ntxn_1,5\n,6\n",
                1,
                "line 3 of the input has no id in column 1",
            ),
            (
                "amount,id\n5,txn_1\n6\n",
                1,
                "line 3 of the input has 1 cell, but the ids are in column 2",
            ),
            (
                "id,note\ntxn_1,x\n\"txn\n2\",y\n",
                1,
                "line 3 of the input has a line break inside its id",
            ),
        ] {
            let (ids, last) = broken(input);
            assert_eq!(ids.len(), before, "{input:?}: {ids:?}");
            assert!(last.starts_with(said), "{input:?}: {last}");
        }
        // A line break inside another quoted cell is CSV, not an error.
        assert_eq!(
            ids("id,note\ntxn_1,\"two\nlines\"\ntxn_2,x\n", None),
            ok(&["txn_1", "txn_2"])
        );
    }

    #[test]
    fn one_record_is_bounded() {
        let mut input = b"txn_1\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_RECORD + 10));
        let items = read_with(&input, Reading::default());
        assert_eq!(items[0], Ok("txn_1".to_owned()));
        assert!(
            items[1]
                .as_ref()
                .is_err_and(|e| e.starts_with("line 2 of the input is longer than 64 KiB")),
            "{:?}",
            items[1]
        );
        // A quoted record is bounded too.
        let mut input = b"\"".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_RECORD + 10));
        input.extend(b"\"\n");
        assert!(read_with(&input, Reading::default())[0].is_err());
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
        let items: Vec<Item> = runtime.block_on(stream(source, Reading::default()).collect());
        assert_eq!(items[0], Ok("txn_1".to_owned()));
        assert!(
            items[1].as_ref().is_err_and(|e| e.contains("not UTF-8")),
            "{items:?}"
        );
    }
}
