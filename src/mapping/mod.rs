//! Mappings: jq programs in `mappings/` that turn parsed documents into canonical records and
//! canonical records into documents, plus code crosswalks. Loaded once; no IO while mapping.

pub mod doc;
mod eval;
pub mod jq;
mod natives;
pub mod twin;

use crate::canonical::{Business, Decimal, Written};
use jaq_json::Val;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A program's outputs, or its error, each as jq prints it.
pub type Shown = Result<Vec<String>, String>;

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        /// The mappings shipped inside the binary; files under the configured folder replace them.
        pub const BUILTIN: &[(&str, &str)] = &[$(($name, include_str!(concat!("../../mappings/", $name))),)*];
    };
}

builtin![
    "lib/prelude.jq",
    "targets/sap_s4hana/invoice.jq",
    "targets/sap_s4hana/purchase_order.jq",
    "targets/sap_s4hana/ship_notice.jq",
    "targets/dynamics365/invoice.jq",
    "targets/dynamics365/purchase_order.jq",
    "targets/oracle_fusion/invoice.jq",
    "targets/oracle_fusion/ship_notice.jq",
    "targets/oracle_fusion/purchase_order.jq",
    "targets/coupa_cxml/invoice.jq",
    "targets/coupa_cxml/ship_notice.jq",
    "targets/coupa_cxml/po_acknowledgement.jq",
    "targets/legacy_files/invoice.jq",
    "targets/legacy_files/purchase_order.jq",
    "inbound/x12/850.jq",
    "inbound/x12/855.jq",
    "inbound/x12/856.jq",
    "inbound/x12/810.jq",
    "inbound/x12/820.jq",
    "inbound/x12/860.jq",
    "inbound/x12/997.jq",
    "inbound/x12/999.jq",
    "inbound/edifact/ORDERS.jq",
    "inbound/edifact/ORDRSP.jq",
    "inbound/edifact/DESADV.jq",
    "inbound/edifact/INVOIC.jq",
    "inbound/edifact/REMADV.jq",
    "inbound/edifact/CONTRL.jq",
    "inbound/edifact/APERAK.jq",
    "inbound/cxml/OrderRequest.jq",
    "inbound/cxml/ConfirmationRequest.jq",
    "inbound/cxml/ShipNoticeRequest.jq",
    "inbound/cxml/InvoiceDetailRequest.jq",
    "outbound/x12/850.jq",
    "outbound/x12/860.jq",
    "outbound/x12/855.jq",
    "outbound/x12/856.jq",
    "outbound/x12/810.jq",
    "outbound/x12/820.jq",
    "outbound/edifact/ORDERS.jq",
    "outbound/edifact/ORDRSP.jq",
    "outbound/edifact/DESADV.jq",
    "outbound/edifact/INVOIC.jq",
    "outbound/cxml/OrderRequest.jq",
    "inbound/csv/purchase_order.jq",
    "inbound/csv/invoice.jq",
    "csv/order-lines.toml",
    "csv/invoice-lines-semicolon.toml",
];

/// A problem in a mapping file, with its line when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// One loaded mapping: its jq program, and its compiled twin while it is the shipped text.
/// The shipped text (with the shipped prelude) is compiled when first used, so that a command
/// on one small file does not pay for every mapping; any other text is compiled at load,
/// where its errors are reported.
#[derive(Debug)]
pub struct Mapping {
    program: std::sync::OnceLock<Result<jq::Program, String>>,
    /// The shipped text and prelude, while not compiled yet.
    shipped: Option<(&'static str, &'static str)>,
    twin: Option<twin::Twin>,
}

impl Mapping {
    /// The compiled program (compiling the shipped text now if it was not yet).
    fn program(&self) -> Result<&jq::Program, MapError> {
        self.program
            .get_or_init(|| {
                let (text, prelude) = self.shipped.unwrap_or(("", ""));
                jq::compile(prelude, text).map_err(|es| {
                    es.iter()
                        .map(|e| format!("line {}: {}", e.line, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            })
            .as_ref()
            .map_err(|e| MapError::plain("7", format!("the mapping does not compile: {e}")))
    }

    /// The compiled twin in force for this mapping, if any.
    pub fn twin(&self) -> Option<twin::Twin> {
        self.twin
    }
}

/// Every loaded mapping, by name (`inbound/x12/850`, `partners/ACME/inbound/x12/850`).
#[derive(Debug, Default)]
pub struct Mappings {
    programs: HashMap<String, Arc<Mapping>>,
    /// `{table: {partner or "*": {value: mapped}}}`, converted once for every run.
    codes: Val,
    /// The same tables as JSON, for the twins.
    codes_json: Value,
    /// Where each program came from (a file, or `built-in`), for `edigate check`.
    pub origins: BTreeMap<String, String>,
    /// CSV column maps by name (`mappings/csv/<name>.toml`).
    pub csv: Vec<(String, crate::formats::csv::ColumnMap)>,
}

/// Why a document did not map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapError {
    pub message: String,
    /// AK4/IK4 code (`1` missing, `7` invalid code, `8` invalid date), `3` for a missing
    /// segment, `crosswalk`, or `schema` when the record breaks its contract.
    pub code: String,
    /// The segment the mapping pointed at, as it was given to the mapping.
    pub segment: Option<Value>,
    pub element: Option<usize>,
}

impl MapError {
    fn from_run(e: jq::RunError) -> MapError {
        let o = e.0.as_object();
        let get = |k: &str| o.and_then(|o| o.get(k));
        MapError {
            message: crate::formats::bounded(e.message()),
            code: get("code")
                .and_then(Value::as_str)
                .unwrap_or("7")
                .to_string(),
            segment: get("segment").filter(|v| v.is_array()).cloned(),
            element: get("element").and_then(Value::as_u64).map(|n| n as usize),
        }
    }

    fn plain(code: &str, message: String) -> MapError {
        MapError {
            message,
            code: code.into(),
            segment: None,
            element: None,
        }
    }
}

impl Mappings {
    /// The built-in mappings only.
    pub fn builtin() -> Mappings {
        Mappings::load(None).expect("built-in mappings compile")
    }

    /// Built-in mappings, replaced and extended by the `*.jq` and `codes/*.csv` files under
    /// `dir`. Every problem is reported, not only the first.
    pub fn load(dir: Option<&Path>) -> Result<Mappings, Vec<LoadError>> {
        let mut sources: BTreeMap<String, (String, String)> = BUILTIN
            .iter()
            .map(|(n, t)| (n.to_string(), (t.to_string(), format!("built-in {n}"))))
            .collect();
        let mut errors = Vec::new();
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            for path in files_under(dir) {
                let Ok(rel) = path.strip_prefix(dir) else {
                    continue;
                };
                let rel = rel.to_string_lossy().replace('\\', "/");
                let csv_map = rel.starts_with("csv/") && rel.ends_with(".toml");
                if rel.starts_with("standards/")
                    || !(rel.ends_with(".jq") || rel.ends_with(".csv") || csv_map)
                {
                    continue;
                }
                match std::fs::read_to_string(&path) {
                    Ok(t) => {
                        sources.insert(rel, (t, path.display().to_string()));
                    }
                    Err(e) => errors.push(LoadError {
                        file: path.clone(),
                        line: None,
                        message: format!("cannot read: {e}"),
                    }),
                }
            }
        }
        let prelude = sources
            .get("lib/prelude.jq")
            .map(|(t, _)| t.clone())
            .unwrap_or_default();
        let mut m = Mappings::default();
        let mut codes = serde_json::Map::new();
        for (rel, (text, origin)) in &sources {
            if let Some(table) = rel
                .strip_prefix("codes/")
                .and_then(|r| r.strip_suffix(".csv"))
            {
                match crosswalk(text) {
                    Ok(t) => {
                        codes.insert(table.to_string(), t);
                    }
                    Err((line, message)) => errors.push(LoadError {
                        file: origin.into(),
                        line: Some(line),
                        message,
                    }),
                }
                continue;
            }
            if let Some(name) = rel
                .strip_prefix("csv/")
                .and_then(|r| r.strip_suffix(".toml"))
            {
                let parsed = toml::from_str::<crate::formats::csv::ColumnMap>(text)
                    .map_err(|e| e.to_string())
                    .and_then(|m| m.check().map(|()| m));
                match parsed {
                    Ok(map) => m.csv.push((name.to_string(), map)),
                    Err(message) => errors.push(LoadError {
                        file: origin.into(),
                        line: None,
                        message,
                    }),
                }
                continue;
            }
            let Some(name) = rel.strip_suffix(".jq") else {
                continue;
            };
            if name.starts_with("lib/") {
                // The prelude itself: compiling it alone finds its own errors (the shipped
                // text is known to compile: every shipped mapping is compiled with it in a test).
                let shipped = BUILTIN.iter().any(|(n, t)| *n == rel && *t == text);
                if shipped {
                    continue;
                }
                if let Err(es) = jq::compile("", &format!("{text}\n.")) {
                    errors.extend(es.into_iter().map(|e| LoadError {
                        file: origin.into(),
                        line: Some(e.line),
                        message: e.message,
                    }));
                }
                continue;
            }
            // The shipped text with the shipped prelude is known to compile (a test compiles
            // every one): it is compiled when first used.
            let shipped_text = BUILTIN
                .iter()
                .find(|(n, t)| n.strip_suffix(".jq") == Some(name) && *t == text);
            let shipped_prelude = BUILTIN
                .iter()
                .find(|(n, _)| *n == "lib/prelude.jq")
                .filter(|(_, t)| *t == prelude);
            if let (Some((_, text)), Some((_, prelude))) = (shipped_text, shipped_prelude) {
                let twin = twin::Twin::of(name, text, prelude);
                m.programs.insert(
                    name.to_string(),
                    Arc::new(Mapping {
                        program: std::sync::OnceLock::new(),
                        shipped: Some((text, prelude)),
                        twin,
                    }),
                );
                m.origins.insert(name.to_string(), origin.clone());
                continue;
            }
            match jq::compile(&prelude, text) {
                Ok(program) => {
                    let twin = twin::Twin::of(name, text, &prelude);
                    m.programs.insert(
                        name.to_string(),
                        Arc::new(Mapping {
                            program: std::sync::OnceLock::from(Ok(program)),
                            shipped: None,
                            twin,
                        }),
                    );
                    m.origins.insert(name.to_string(), origin.clone());
                }
                Err(es) => errors.extend(es.into_iter().map(|e| LoadError {
                    file: origin.into(),
                    line: Some(e.line),
                    message: e.message,
                })),
            }
        }
        m.codes_json = Value::Object(codes);
        m.codes = jq::from_json(&m.codes_json);
        if errors.is_empty() {
            Ok(m)
        } else {
            Err(errors)
        }
    }

    /// The program for `direction/format/document`, the partner's own when it has one.
    pub fn find(
        &self,
        partner: &str,
        direction: &str,
        format: &str,
        document: &str,
    ) -> Option<&Mapping> {
        let own = format!("partners/{partner}/{direction}/{format}/{document}");
        self.programs
            .get(&own)
            .or_else(|| {
                self.programs
                    .get(&format!("{direction}/{format}/{document}"))
            })
            .map(|p| p.as_ref())
    }

    /// The column map for a CSV file: the one whose columns all appear in its header (the
    /// most specific when several do).
    pub fn csv_map(&self, data: &[u8]) -> Option<(&str, &crate::formats::csv::ColumnMap)> {
        self.csv
            .iter()
            .filter(|(_, m)| {
                crate::formats::csv::header(data, m).is_some_and(|h| h.len() > 1 && m.fits(&h))
            })
            .max_by_key(|(_, m)| m.columns.len())
            .map(|(n, m)| (n.as_str(), m))
    }

    /// Names of every loaded program.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.origins.keys().map(String::as_str)
    }

    /// Shipped programs that no file of the mappings folder replaced.
    pub fn builtin_in_use(&self) -> Vec<&str> {
        self.origins
            .iter()
            .filter(|(_, o)| o.starts_with("built-in "))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Programs that run as compiled twins, and programs whose shipped text has a twin but
    /// which were edited (or see an edited prelude), so they run in the interpreter.
    pub fn twins(&self) -> (Vec<&str>, Vec<&str>) {
        let mut compiled = Vec::new();
        let mut interpreted = Vec::new();
        for (name, m) in &self.programs {
            if m.twin.is_some() {
                compiled.push(name.as_str());
            } else if twin::Twin::shipped(name).is_some() {
                interpreted.push(name.as_str());
            }
        }
        compiled.sort_unstable();
        interpreted.sort_unstable();
        (compiled, interpreted)
    }

    fn globals(&self, partner: &str) -> [Val; 2] {
        [self.codes.clone(), Val::from(partner.to_string())]
    }

    /// Runs an inbound program: each output must be `{schema, record}` with a record valid
    /// for its schema.
    pub fn inbound(
        &self,
        mapping: &Mapping,
        partner: &str,
        input: Val,
    ) -> Result<Vec<Business>, MapError> {
        let outs = mapping
            .program()?
            .run(input, self.globals(partner))
            .map_err(MapError::from_run)?;
        if outs.is_empty() {
            return Err(MapError::plain("7", "the mapping gave no record".into()));
        }
        outs.iter()
            .map(|v| {
                let mut v = jq::to_json(v);
                let schema = v
                    .get("schema")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let record = v.get_mut("record").map(Value::take).unwrap_or(Value::Null);
                Business::from_json(&schema, record).map_err(|e| {
                    MapError::plain(
                        "schema",
                        format!("the mapping made an invalid {schema} record: {e}"),
                    )
                })
            })
            .collect()
    }

    /// A program's outputs (or error) on `input` from the faster evaluator, `None` when it
    /// hands the input to jaq, and from jaq alone, each value as jq prints it: what the tests
    /// hold equal.
    #[doc(hidden)]
    pub fn both_evaluators(
        &self,
        mapping: &Mapping,
        partner: &str,
        input: Val,
    ) -> Result<(Option<Shown>, Shown), MapError> {
        let program = mapping.program()?;
        let shown = |r: Result<Vec<Val>, Val>| {
            r.map(|vs| vs.iter().map(|v| v.to_string()).collect())
                .map_err(|e| e.to_string())
        };
        let fast = program.run_fast(input.clone(), self.globals(partner));
        let jaq = program.run_jaq_values(input, self.globals(partner));
        Ok((fast.map(shown), shown(jaq)))
    }

    /// Maps one X12 transaction set: through the mapping's twin when it has one that answers,
    /// through the interpreter otherwise.
    pub fn inbound_x12(
        &self,
        mapping: &Mapping,
        partner: &str,
        tx: &crate::formats::x12::Transaction,
        version: &str,
    ) -> Result<Vec<Written>, MapError> {
        if let Some(records) = self.twin_x12(mapping, partner, tx) {
            return Ok(records);
        }
        let businesses = self.inbound(mapping, partner, doc::x12(tx, version, partner))?;
        Ok(businesses.iter().map(Written::from).collect())
    }

    /// The records of one EDIFACT message: from the mapping's twin when it answers, else from
    /// the interpreter.
    pub fn inbound_edifact(
        &self,
        mapping: &Mapping,
        partner: &str,
        m: &crate::formats::edifact::Message,
    ) -> Result<Vec<Written>, MapError> {
        if let Some(records) = self.twin_edifact(mapping, partner, m) {
            return Ok(records);
        }
        let businesses = self.inbound(mapping, partner, doc::edifact(m, partner))?;
        Ok(businesses.iter().map(Written::from).collect())
    }

    /// The records of the mapping's EDIFACT twin, when it has one and that twin answers.
    pub fn twin_edifact(
        &self,
        mapping: &Mapping,
        partner: &str,
        m: &crate::formats::edifact::Message,
    ) -> Option<Vec<Written>> {
        mapping.twin?.edifact(m, &self.codes_json, partner)
    }

    /// The records of a document mapped whole (CSV, cXML): `twin`'s answer when it gives one,
    /// else the interpreter's on `fields()`.
    pub fn inbound_whole(
        &self,
        mapping: &Mapping,
        partner: &str,
        twin: Option<Vec<Written>>,
        fields: impl FnOnce() -> Value,
    ) -> Result<Vec<Written>, MapError> {
        if let Some(records) = twin {
            return Ok(records);
        }
        let businesses = self.inbound(mapping, partner, jq::from_json(&fields()))?;
        Ok(businesses.iter().map(Written::from).collect())
    }

    /// The records of the mapping's cXML twin, when it has one and that twin answers.
    pub fn twin_cxml(
        &self,
        mapping: &Mapping,
        partner: &str,
        doc: &crate::formats::xml::Document,
    ) -> Option<Vec<Written>> {
        mapping.twin?.cxml(doc.root(), &self.codes_json, partner)
    }

    /// The records of the mapping's CSV twin, when it has one and that twin answers.
    pub fn twin_csv(
        &self,
        mapping: &Mapping,
        partner: &str,
        rows: &crate::formats::csv::Rows,
    ) -> Option<Vec<Written>> {
        let mut out = Vec::new();
        self.twin_csv_each(mapping, partner, rows, &mut |w| out.push(w))?;
        Some(out)
    }

    /// [`Mappings::twin_csv`] handing each record to `emit` as it is made (so that a big file's
    /// records need not be held); on `None`, what was emitted is void.
    pub fn twin_csv_each(
        &self,
        mapping: &Mapping,
        partner: &str,
        rows: &crate::formats::csv::Rows,
        emit: &mut dyn FnMut(Written),
    ) -> Option<()> {
        mapping.twin?.csv(rows, &self.codes_json, partner, emit)
    }

    /// [`Mappings::twin_csv_each`] on rows read one at a time ([`twin::Twin::csv_streamed`]);
    /// `None` when the mapping has no CSV twin.
    pub fn twin_csv_streamed(
        &self,
        mapping: &Mapping,
        partner: &str,
        read: &mut dyn FnMut(
            &mut crate::formats::csv::Rows,
        ) -> Result<bool, crate::formats::csv::CsvError>,
        group: crate::formats::csv::Rows,
        bloom_bits: u64,
        emit: &mut dyn FnMut(Written),
    ) -> Option<Result<twin::Streamed, crate::formats::csv::CsvError>> {
        mapping
            .twin?
            .csv_streamed(read, group, bloom_bits, &self.codes_json, partner, emit)
    }

    /// The records of the mapping's twin, when it has one and that twin answers.
    pub fn twin_x12(
        &self,
        mapping: &Mapping,
        partner: &str,
        tx: &crate::formats::x12::Transaction,
    ) -> Option<Vec<Written>> {
        mapping.twin?.x12(tx, &self.codes_json, partner)
    }

    /// Runs an outbound program on one canonical record (envelope included) and returns its
    /// single output.
    pub fn outbound(
        &self,
        mapping: &Mapping,
        partner: &str,
        record: &Value,
    ) -> Result<Value, MapError> {
        let outs = mapping
            .program()?
            .run(jq::from_json(record), self.globals(partner))
            .map_err(MapError::from_run)?;
        match outs.as_slice() {
            [one] => Ok(jq::to_json(one)),
            _ => Err(MapError::plain(
                "7",
                format!("the mapping gave {} outputs instead of one", outs.len()),
            )),
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Reads a crosswalk table: a header `partner,value,mapped`, then one row per entry (`*` for
/// every partner). `#` starts a comment line.
fn crosswalk(text: &str) -> Result<Value, (usize, String)> {
    let mut t: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut header = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if !header {
            if cols != ["partner", "value", "mapped"] {
                return Err((i + 1, "the header must be: partner,value,mapped".into()));
            }
            header = true;
            continue;
        }
        let [p, v, m] = cols.as_slice() else {
            return Err((i + 1, format!("expected 3 columns, found {}", cols.len())));
        };
        if p.is_empty() || v.is_empty() {
            return Err((i + 1, "partner and value must not be empty".into()));
        }
        if t.entry(p.to_string())
            .or_default()
            .insert(v.to_string(), m.to_string())
            .is_some()
        {
            return Err((i + 1, format!("{v:?} is listed twice for partner {p}")));
        }
    }
    Ok(serde_json::to_value(t).unwrap_or(Value::Null))
}

/// Converts an X12 date (`CCYYMMDD`, or `YYMMDD` in old versions) to ISO `YYYY-MM-DD`.
pub fn x12_date(s: &str) -> Option<String> {
    use crate::formats::x12::envelope::{ccyymmdd, yymmdd};
    let century = if ccyymmdd(s) {
        ""
    } else if yymmdd(s) {
        if s < "50" {
            "20"
        } else {
            "19"
        }
    } else {
        return None;
    };
    let n = s.len();
    let mut iso = String::with_capacity(10);
    for part in [
        century,
        &s[..n - 4],
        "-",
        &s[n - 4..n - 2],
        "-",
        &s[n - 2..],
    ] {
        iso.push_str(part);
    }
    Some(iso)
}

/// An EDIFACT date in format 102 (CCYYMMDD, also when no format is given), 203
/// (CCYYMMDDHHMM), 204 (CCYYMMDDHHMMSS) or 101 (YYMMDD) to ISO `YYYY-MM-DD`.
pub fn edifact_date(value: &str, format: &str) -> Option<String> {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    let iso = match (format, value.len()) {
        ("102" | "", 8) | ("203", 12) | ("204", 14) if digits => {
            format!("{}-{}-{}", &value[0..4], &value[4..6], &value[6..8])
        }
        ("101", 6) if digits => format!("20{}-{}-{}", &value[0..2], &value[2..4], &value[4..6]),
        _ => return None,
    };
    crate::canonical::Date::parse(&iso).map(|_| iso)
}

/// An EDIFACT number: ISO 9735 lets the sender choose the decimal mark, so either is read.
pub fn edi_decimal(value: &str) -> Option<Decimal> {
    Decimal::parse(value).or_else(|| Decimal::parse_with(value, ','))
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_shipped_mapping_compiles_so_compiling_them_when_first_used_cannot_fail() {
        let prelude = BUILTIN
            .iter()
            .find(|(n, _)| *n == "lib/prelude.jq")
            .map(|(_, t)| *t)
            .unwrap();
        let mut n = 0;
        for (name, text) in BUILTIN
            .iter()
            .filter(|(n, _)| n.ends_with(".jq") && !n.starts_with("lib/"))
        {
            assert!(
                jq::compile(prelude, text).is_ok(),
                "{name} does not compile"
            );
            n += 1;
        }
        assert!(n >= 20, "only {n} shipped mappings");
        // The shipped prelude compiles alone too, so loading does not compile it again.
        assert!(jq::compile("", &format!("{prelude}\n.")).is_ok());
        // Loaded, they wait to be compiled; used, they compile.
        let m = Mappings::builtin();
        let po = m.find("ACME", "inbound", "x12", "810").unwrap();
        assert!(po.program.get().is_none());
        assert!(po.program().is_ok());
    }

    use super::*;

    #[test]
    fn an_edited_prelude_that_does_not_compile_is_refused_at_load_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        std::fs::write(
            dir.path().join("lib/prelude.jq"),
            "def fine: .;\ndef broken: (;\n",
        )
        .unwrap();
        let Err(errors) = Mappings::load(Some(dir.path())) else {
            panic!("a prelude that does not compile was accepted");
        };
        assert!(
            errors
                .iter()
                .any(|e| e.file.ends_with("lib/prelude.jq") && e.line.is_some()),
            "{errors:?}"
        );
    }

    #[test]
    fn converts_dates_exactly() {
        assert_eq!(x12_date("20260517").as_deref(), Some("2026-05-17"));
        assert_eq!(x12_date("990101").as_deref(), Some("1999-01-01"));
        assert_eq!(x12_date("260229"), None);
        assert_eq!(x12_date("20260230"), None);
        // Every date given is one `Date` takes (the twin relies on it).
        for d in [
            "20240229", "000229", "491231", "500101", "991231", "20261301", "20260431",
        ] {
            if let Some(iso) = x12_date(d) {
                assert!(crate::canonical::Date::parse(&iso).is_some(), "{d}");
            }
        }
        assert_eq!(x12_date(""), None);
        assert_eq!(
            edifact_date("20260517", "102").as_deref(),
            Some("2026-05-17")
        );
        assert_eq!(
            edifact_date("202605171015", "203").as_deref(),
            Some("2026-05-17")
        );
        assert_eq!(edifact_date("260517", "101").as_deref(), Some("2026-05-17"));
        assert_eq!(edifact_date("20260231", "102"), None);
        assert_eq!(edifact_date("2026051", "102"), None);
        assert_eq!(edifact_date("20260517", "718"), None);
    }

    #[test]
    fn either_decimal_mark_is_read_but_not_both() {
        assert_eq!(edi_decimal("10,50").unwrap().as_str(), "10.50");
        assert_eq!(edi_decimal("10.50").unwrap().as_str(), "10.50");
        assert_eq!(edi_decimal("1.000,50"), None);
        assert_eq!(edi_decimal("ten"), None);
    }

    #[test]
    fn crosswalk_tables_need_their_header_and_no_repeats() {
        let t = crosswalk("# units\npartner,value,mapped\n*,CS,CA\nACME,BX,BOX\n").unwrap();
        assert_eq!(t["*"]["CS"], "CA");
        assert_eq!(t["ACME"]["BX"], "BOX");
        assert_eq!(crosswalk("a,b\n").unwrap_err().0, 1);
        assert_eq!(
            crosswalk("partner,value,mapped\n*,A,1\n*,A,2\n")
                .unwrap_err()
                .0,
            3
        );
    }

    #[test]
    fn a_broken_mapping_file_is_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("inbound/x12")).unwrap();
        std::fs::write(dir.path().join("inbound/x12/850.jq"), "{\n a: .x |\n}").unwrap();
        let errs = Mappings::load(Some(dir.path())).unwrap_err();
        assert!(errs[0].file.ends_with("inbound/x12/850.jq"), "{errs:?}");
        assert_eq!(errs[0].line, Some(3), "{errs:?}");
    }
}
