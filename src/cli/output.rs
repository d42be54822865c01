//! Results out, as they come: JSON lines and CSV one row per result, a JSON array written
//! element by element, a table printed in pages that fit the terminal. Standard output is
//! buffered and flushed whenever no further result is ready, so the first line shows as soon
//! as the first answer is audited and a fast run does not pay one write per result.

use std::io::Write;

use serde::Serialize;

use paystat::CheckResult;
use paystat::explain::Diagnosis;
use paystat::flat::{self, RESULT_COLUMNS};

use super::args::Format;
use super::render::{self, Age};

/// A result as printed: the result and, with `--stale-after`, its age; with `--explain`, the
/// diagnosis of a stale one.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    pub result: &'a CheckResult,
    pub age: Option<Age>,
    pub diagnosis: Option<&'a Diagnosis>,
}

/// A result with its age, in JSON: the result's fields, then `age_s` and `stale`, then its
/// `diagnosis` when it has one.
#[derive(Serialize)]
struct WithAge<'a> {
    #[serde(flatten)]
    result: &'a CheckResult,
    #[serde(flatten)]
    age: Option<Age>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnosis: Option<&'a Diagnosis>,
}

impl<'a> WithAge<'a> {
    fn of(shown: Shown<'a>) -> WithAge<'a> {
        WithAge {
            result: shown.result,
            age: shown.age,
            diagnosis: shown.diagnosis,
        }
    }
}

/// Rows of a table page.
const PAGE: usize = 50;

/// Where results go.
pub struct Output {
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    format: Format,
    /// Whether rows carry an age (`--stale-after`).
    aged: bool,
    /// Whether rows carry a diagnosis (`--explain`).
    explaining: bool,
    written: usize,
    page: Vec<(CheckResult, Option<Age>)>,
    width: Option<u16>,
    csv_row: Vec<String>,
}

impl Output {
    /// Output to standard output in `format`; `aged` adds the age columns, `explaining` the
    /// diagnosis columns.
    pub fn new(format: Format, aged: bool, explaining: bool) -> Output {
        Output {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
            format,
            aged,
            explaining,
            written: 0,
            page: Vec::new(),
            width: terminal_width(),
            csv_row: Vec::new(),
        }
    }

    /// Writes what comes before the first result (a CSV header).
    pub fn begin(&mut self) -> std::io::Result<()> {
        if self.format == Format::Csv {
            let mut header = flat::header(RESULT_COLUMNS);
            if self.aged {
                header.extend(["age_s".to_owned(), "stale".to_owned()]);
            }
            if self.explaining {
                header.extend(["diagnosis".to_owned(), "escalate_to".to_owned()]);
            }
            self.csv_line(&header)?;
        }
        Ok(())
    }

    /// Writes one result.
    pub fn push(&mut self, shown: Shown<'_>) -> std::io::Result<()> {
        match self.format {
            Format::Jsonl => {
                self.write_json(shown)?;
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                // The same text as a pretty-printed array, written one element at a time.
                self.out
                    .write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
                let element = match (shown.age, shown.diagnosis) {
                    (None, None) => serde_json::to_string_pretty(shown.result),
                    _ => serde_json::to_string_pretty(&WithAge::of(shown)),
                }
                .map_err(std::io::Error::other)?;
                for (i, line) in element.lines().enumerate() {
                    if i > 0 {
                        self.out.write_all(b"\n")?;
                    }
                    self.out.write_all(b"  ")?;
                    self.out.write_all(line.as_bytes())?;
                }
            }
            Format::Csv => {
                let value = serde_json::to_value(shown.result).map_err(std::io::Error::other)?;
                let mut row = std::mem::take(&mut self.csv_row);
                row.clear();
                row.extend(flat::cells(&value, RESULT_COLUMNS));
                if let Some(age) = shown.age.filter(|_| self.aged) {
                    row.extend([age.age_s.to_string(), age.stale.to_string()]);
                } else if self.aged {
                    row.extend([String::new(), String::new()]);
                }
                if self.explaining {
                    match shown.diagnosis {
                        Some(d) => row.extend([
                            d.rule.clone().unwrap_or_else(|| "none".to_owned()),
                            d.escalate_to.clone(),
                        ]),
                        None => row.extend([String::new(), String::new()]),
                    }
                }
                self.csv_line(&row)?;
                self.csv_row = row;
            }
            Format::Table => {
                self.page.push((shown.result.clone(), shown.age));
                if self.page.len() >= PAGE {
                    self.print_page()?;
                }
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Flushes what was written (called when no further result is ready).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// Writes what comes after the last result, and flushes.
    pub fn end(&mut self) -> std::io::Result<()> {
        match self.format {
            Format::Json if self.written == 0 => self.out.write_all(b"[]\n")?,
            Format::Json => self.out.write_all(b"\n]\n")?,
            Format::Table => self.print_page()?,
            Format::Jsonl | Format::Csv => {}
        }
        self.out.flush()
    }

    fn write_json(&mut self, shown: Shown<'_>) -> std::io::Result<()> {
        match (shown.age, shown.diagnosis) {
            (None, None) => serde_json::to_writer(&mut self.out, shown.result),
            _ => serde_json::to_writer(&mut self.out, &WithAge::of(shown)),
        }
        .map_err(std::io::Error::other)
    }

    fn csv_line(&mut self, cells: &[String]) -> std::io::Result<()> {
        // RFC 4180 through the csv crate, one record at a time into the shared buffer; each
        // cell safe to open in a spreadsheet.
        let mut writer = csv::WriterBuilder::new().from_writer(Vec::with_capacity(512));
        for cell in cells {
            writer
                .write_field(paystat::flat::spreadsheet_safe(cell).as_bytes())
                .map_err(std::io::Error::other)?;
        }
        writer
            .write_record(None::<&[u8]>)
            .map_err(std::io::Error::other)?;
        let bytes = writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.out.write_all(&bytes)
    }

    fn print_page(&mut self) -> std::io::Result<()> {
        if self.page.is_empty() {
            return Ok(());
        }
        let rows: Vec<(&CheckResult, Option<Age>)> =
            self.page.iter().map(|(r, a)| (r, *a)).collect();
        let text = render::table_of(&rows, self.aged, self.width);
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.page.clear();
        self.out.flush()
    }
}

/// The terminal's width when standard output is one (or `COLUMNS` says), for the table.
fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
    {
        return Some(columns);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize; an all-zero one is a valid value to start from.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: standard output is a terminal (checked above) and `size` is a valid pointer.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col)
}
