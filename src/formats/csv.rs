//! CSV files read through a column map (`mappings/csv/*.toml`): header names become canonical
//! field names, numbers with either decimal mark become exact decimals, dates in the map's
//! format become ISO dates. Every bad value is reported with its line and column.

use crate::canonical::{Date, Decimal};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Read;

/// One column map, as written in `mappings/csv/<name>.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// The inbound mapping that turns the rows into records: `inbound/csv/<document>.jq`.
    pub document: String,
    /// The partner the rows speak for, when the channel is not bound to one.
    #[serde(default)]
    pub partner: Option<String>,
    /// One character; `,` by default.
    #[serde(default = "comma")]
    pub delimiter: String,
    /// One character; `"` by default.
    #[serde(default = "dquote")]
    pub quote: String,
    /// `,` when numbers are written `1.234,50`; `.` by default.
    #[serde(default = "point")]
    pub decimal_mark: String,
    /// `YYYY-MM-DD` (default), `YYYYMMDD`, `DD.MM.YYYY`, `DD/MM/YYYY`, `MM/DD/YYYY`, `DD-MM-YYYY`.
    #[serde(default = "iso")]
    pub date_format: String,
    /// Canonical field name -> header name in the file. A file is read with this map when
    /// its header has every one of these names.
    pub columns: BTreeMap<String, String>,
    /// Fields read as exact decimals.
    #[serde(default)]
    pub decimals: Vec<String>,
    /// Fields read as dates.
    #[serde(default)]
    pub dates: Vec<String>,
}

fn comma() -> String {
    ",".into()
}
fn dquote() -> String {
    "\"".into()
}
fn point() -> String {
    ".".into()
}
fn iso() -> String {
    "YYYY-MM-DD".into()
}

/// A value that does not read, or a file that does not fit the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// 1-based line, 0 for the whole file.
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

fn one_byte(s: &str, what: &str) -> Result<u8, String> {
    match s.as_bytes() {
        [b] => Ok(*b),
        _ => Err(format!("{what} {s:?} must be one character")),
    }
}

impl ColumnMap {
    /// Problems in the map itself (reported by `edigate check`).
    pub fn check(&self) -> Result<(), String> {
        one_byte(&self.delimiter, "delimiter")?;
        one_byte(&self.quote, "quote")?;
        if !matches!(self.decimal_mark.as_str(), "." | ",") {
            return Err(format!(
                "decimal_mark {:?} must be . or ,",
                self.decimal_mark
            ));
        }
        if !FORMATS.contains(&self.date_format.as_str()) {
            return Err(format!(
                "date_format {:?} is not one of {}",
                self.date_format,
                FORMATS.join(", ")
            ));
        }
        for f in self.decimals.iter().chain(&self.dates) {
            if !self.columns.contains_key(f) {
                return Err(format!(
                    "{f:?} is listed as a decimal or date but has no column"
                ));
            }
        }
        if self.columns.is_empty() {
            return Err("columns must name at least one column".into());
        }
        Ok(())
    }

    /// Whether a header line (already split) has every column of this map.
    pub fn fits(&self, header: &[String]) -> bool {
        self.columns
            .values()
            .all(|h| header.iter().any(|c| c.trim() == h))
    }
}

const FORMATS: [&str; 6] = [
    "YYYY-MM-DD",
    "YYYYMMDD",
    "DD.MM.YYYY",
    "DD/MM/YYYY",
    "MM/DD/YYYY",
    "DD-MM-YYYY",
];

/// A date written in `format` as ISO `YYYY-MM-DD`, when it exists.
pub fn to_iso(v: &str, format: &str) -> Option<String> {
    let v = v.trim();
    let (y, m, d) = match (format, v.len()) {
        ("YYYY-MM-DD", 10) => (&v[0..4], &v[5..7], &v[8..10]),
        ("YYYYMMDD", 8) => (&v[0..4], &v[4..6], &v[6..8]),
        ("DD.MM.YYYY" | "DD/MM/YYYY" | "DD-MM-YYYY", 10) => (&v[6..10], &v[3..5], &v[0..2]),
        ("MM/DD/YYYY", 10) => (&v[6..10], &v[0..2], &v[3..5]),
        _ => return None,
    };
    let iso = format!("{y}-{m}-{d}");
    Date::parse(&iso).map(|_| iso)
}

/// Reads the header line of `data` with the delimiter and quote of `map`.
pub fn header(data: &[u8], map: &ColumnMap) -> Option<Vec<String>> {
    let mut r = reader(data, map).ok()?;
    r.headers()
        .ok()
        .map(|h| h.iter().map(|s| s.trim().to_string()).collect())
}

fn reader<'d>(data: &'d [u8], map: &ColumnMap) -> Result<csv::Reader<&'d [u8]>, String> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    Ok(csv::ReaderBuilder::new()
        .delimiter(one_byte(&map.delimiter, "delimiter")?)
        .quote(one_byte(&map.quote, "quote")?)
        .flexible(false)
        .from_reader(data))
}

/// The data rows of a file, by canonical field name: what a column map reads. The values sit
/// in one text, so a row costs its text and four bytes a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rows {
    /// The canonical field names, sorted: the columns of every row.
    pub fields: Vec<String>,
    text: String,
    /// Where each value ends in `text`, row after row; a blank value is an empty one (a value
    /// read is never empty).
    ends: Vec<u32>,
    /// Each row's 1-based line in the file, blank lines counted.
    lines: Vec<u64>,
}

impl Rows {
    /// Where field `name` is among every row's columns.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }

    /// How many data rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The line of row `row` in the file.
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }

    /// The value of row `row` in column `column`; `None` when blank.
    pub fn value(&self, row: usize, column: usize) -> Option<&str> {
        let i = row * self.fields.len() + column;
        let start = match i {
            0 => 0,
            _ => *self.ends.get(i - 1)? as usize,
        };
        let end = *self.ends.get(i)? as usize;
        (end > start).then(|| &self.text[start..end])
    }

    /// Every row as an object of its non-blank fields plus `_line`: the input of a CSV
    /// mapping's jq.
    pub fn to_json(&self) -> Vec<Value> {
        (0..self.len())
            .map(|r| {
                let mut row = Map::new();
                for (c, field) in self.fields.iter().enumerate() {
                    if let Some(v) = self.value(r, c) {
                        row.insert(field.clone(), Value::String(v.to_string()));
                    }
                }
                row.insert("_line".into(), Value::from(self.lines[r]));
                Value::Object(row)
            })
            .collect()
    }

    /// No rows, the columns kept.
    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.lines.clear();
    }

    /// Drops every row but the last (what a reader keeps of a document it has moved past).
    pub fn keep_last(&mut self) {
        let (w, n) = (self.fields.len(), self.len());
        if n < 2 {
            return;
        }
        let first = (n - 1) * w;
        let start = match first {
            0 => 0,
            _ => self.ends[first - 1],
        };
        self.text.drain(..start as usize);
        self.ends.drain(..first);
        self.ends.iter_mut().for_each(|e| *e -= start);
        self.lines.drain(..n - 1);
    }

    /// Appends one value (blank when empty).
    fn push(&mut self, value: &str) -> Result<(), String> {
        self.text.push_str(value);
        let end = u32::try_from(self.text.len())
            .map_err(|_| "the file's values add up to more than 4 GiB".to_string())?;
        self.ends.push(end);
        Ok(())
    }
}

/// Every data row with the values of the map's columns (text, exact decimals, ISO dates).
pub fn rows(data: &[u8], map: &ColumnMap) -> Result<Rows, CsvError> {
    let mut reader = RowReader::new(data, map)?;
    let mut out = reader.empty();
    while reader.next_row(&mut out)? {}
    Ok(out)
}

/// The 64-bit hash by which a document number is remembered while rows stream past.
pub fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(key)
}

/// The first row (its line and value) whose `field` value, one hashed in `keys`, names a
/// document whose rows already came before another document's: `None` when the rows of each
/// such document are together.
pub fn apart<R: Read>(
    mut reader: RowReader<R>,
    field: &str,
    keys: &HashSet<u64>,
) -> Result<Option<(u64, String)>, CsvError> {
    let Some(column) = reader.at.iter().position(|(f, _, _)| f == field) else {
        return Ok(None);
    };
    let mut row = reader.empty();
    let (mut previous, mut started) = (None::<String>, HashSet::new());
    while reader.next_row(&mut row)? {
        let k = row.value(0, column).unwrap_or("");
        if previous.as_deref() != Some(k) {
            let hash = key_hash(k);
            if keys.contains(&hash) && !started.insert(hash) {
                return Ok(Some((row.line(0), k.to_string())));
            }
            previous = Some(k.to_string());
        }
        row.clear();
    }
    Ok(None)
}

/// Rows read one at a time from any reader (a file too big to hold), through a column map:
/// what is kept is the reader's buffer and the row being read, whatever the file's size.
pub struct RowReader<R: Read> {
    csv: csv::Reader<Breaks<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>>,
    /// Per map field: its name, its header name and its column in the file.
    at: Vec<(String, String, usize)>,
    mark: char,
    decimals: Vec<bool>,
    dates: Vec<bool>,
    date_format: String,
    record: csv::StringRecord,
}

impl<R: Read> RowReader<R> {
    /// Reads the header (after a byte-order mark, if any) and finds every column of the map.
    pub fn new(mut from: R, map: &ColumnMap) -> Result<RowReader<R>, CsvError> {
        let whole = |message: String| CsvError {
            line: 0,
            column: None,
            message,
        };
        let mut head = Vec::with_capacity(3);
        (&mut from)
            .take(3)
            .read_to_end(&mut head)
            .map_err(|e| whole(e.to_string()))?;
        if head == b"\xEF\xBB\xBF" {
            head.clear();
        }
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(one_byte(&map.delimiter, "delimiter").map_err(whole)?)
            .quote(one_byte(&map.quote, "quote").map_err(whole)?)
            .flexible(false)
            .from_reader(Breaks {
                inner: std::io::Cursor::new(head).chain(from),
                read: 0,
                breaks: VecDeque::new(),
                newlines: 0,
            });
        let header: Vec<String> = csv
            .headers()
            .map_err(|e| whole(e.to_string()))?
            .iter()
            .map(|s| s.trim().to_string())
            .collect();
        let mut at = Vec::new();
        for (field, name) in &map.columns {
            match header.iter().position(|h| h == name) {
                Some(i) => at.push((field.clone(), name.clone(), i)),
                None => {
                    return Err(whole(format!(
                        "the header has no column {name:?} (for {field})"
                    )))
                }
            }
        }
        Ok(RowReader {
            decimals: at
                .iter()
                .map(|(f, _, _)| map.decimals.contains(f))
                .collect(),
            dates: at.iter().map(|(f, _, _)| map.dates.contains(f)).collect(),
            at,
            csv,
            mark: if map.decimal_mark == "," { ',' } else { '.' },
            date_format: map.date_format.clone(),
            record: csv::StringRecord::new(),
        })
    }

    /// No rows, with the map's fields as columns: what [`RowReader::next_row`] appends to.
    pub fn empty(&self) -> Rows {
        Rows {
            fields: self.at.iter().map(|(f, _, _)| f.clone()).collect(),
            ..Rows::default()
        }
    }

    /// Appends the next data row to `out` (blank lines skipped); `false` at the end.
    pub fn next_row(&mut self, out: &mut Rows) -> Result<bool, CsvError> {
        let rec = &mut self.record;
        loop {
            match self.csv.read_record(rec) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => {
                    return Err(CsvError {
                        line: e.position().map_or(0, |p| p.line()),
                        column: None,
                        message: e.to_string(),
                    })
                }
            }
            // The reader's own line count skips blank lines; count them from the byte offset.
            let line = rec
                .position()
                .map_or(0, |p| self.csv.get_mut().line_at(p.byte()));
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            for (k, (_, name, i)) in self.at.iter().enumerate() {
                let raw = rec.get(*i).unwrap_or("").trim();
                let bad = |what: &str| CsvError {
                    line,
                    column: Some(name.clone()),
                    message: format!("{} is not {what}", super::quoted(raw)),
                };
                let value: Cow<'_, str> = if raw.is_empty() {
                    Cow::Borrowed("")
                } else if self.decimals[k] {
                    // Thousands separators are never guessed: "1.234,50" with a comma mark is
                    // refused rather than read wrong.
                    Decimal::parse_with(raw, self.mark)
                        .ok_or_else(|| bad(&format!("a number with decimal mark {:?}", self.mark)))?
                        .to_string()
                        .into()
                } else if self.dates[k] {
                    to_iso(raw, &self.date_format)
                        .ok_or_else(|| bad(&format!("a date in the form {}", self.date_format)))?
                        .into()
                } else {
                    Cow::Borrowed(raw)
                };
                out.push(&value).map_err(|message| CsvError {
                    line,
                    column: None,
                    message,
                })?;
            }
            out.lines.push(line);
            return Ok(true);
        }
    }
}

/// A reader that notes where each CR and LF falls as it passes, so that a row's line can be
/// told from its byte offset without keeping the text: what is noted is dropped once counted,
/// so it is bounded by the CSV reader's buffer.
struct Breaks<R> {
    inner: R,
    /// Bytes read so far.
    read: u64,
    /// Offset of each CR or LF read and not yet counted, and whether it is an LF.
    breaks: VecDeque<(u64, bool)>,
    /// LFs counted so far.
    newlines: u64,
}

impl<R: Read> Read for Breaks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for i in memchr::memchr2_iter(b'\r', b'\n', &buf[..n]) {
            self.breaks
                .push_back((self.read + i as u64, buf[i] == b'\n'));
        }
        self.read += n as u64;
        Ok(n)
    }
}

impl<R> Breaks<R> {
    /// The 1-based line of a row starting at byte `at`, the line breaks right there skipped
    /// (as a blank line's are); rows are asked for in order.
    fn line_at(&mut self, mut at: u64) -> u64 {
        while let Some(&(o, lf)) = self.breaks.front() {
            if o > at {
                break;
            }
            if o == at {
                at += 1;
            }
            self.newlines += lf as u64;
            self.breaks.pop_front();
        }
        self.newlines + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> ColumnMap {
        toml::from_str(
            r#"
document = "purchase_order"
delimiter = ";"
decimal_mark = ","
date_format = "DD.MM.YYYY"
decimals = ["quantity"]
dates = ["order_date"]
[columns]
po_number = "Bestellung"
order_date = "Datum"
quantity = "Menge"
"#,
        )
        .unwrap()
    }

    #[test]
    fn reads_rows_with_decimal_comma_and_local_dates() {
        let m = map();
        m.check().unwrap();
        let data =
            "Bestellung;Datum;Menge;Extra\nB-1;17.05.2026;\"1,50\";x\n\nB-1;17.05.2026;3;y\n";
        let rows = rows(data.as_bytes(), &m).unwrap().to_json();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["quantity"], "1.50");
        assert_eq!(rows[0]["order_date"], "2026-05-17");
        assert_eq!(rows[1]["_line"], 4, "the blank line counts");
        assert!(m.fits(&header(data.as_bytes(), &m).unwrap()));
    }

    #[test]
    fn bad_values_name_their_line_and_column() {
        let m = map();
        let e = rows("Bestellung;Datum;Menge\nB-1;31.02.2026;1\n".as_bytes(), &m).unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (2, Some("Datum")));
        let e = rows(
            "Bestellung;Datum;Menge\nB-1;17.05.2026;1.234,5\n".as_bytes(),
            &m,
        )
        .unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (2, Some("Menge")));
        let e = rows("Bestellung;Menge\nB-1;1\n".as_bytes(), &m).unwrap_err();
        assert!(e.message.contains("Datum"), "{e:?}");
        let e = rows("Bestellung;Datum;Menge\nB-1;17.05.2026\n".as_bytes(), &m).unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }
}
