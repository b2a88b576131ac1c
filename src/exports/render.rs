//! Rows into bytes: CSV (RFC 4180, formula-injection safe), NDJSON and a streamed JSON array,
//! from one list of columns so every format carries the same names and values.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::params::Format;

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    /// Text that people (or the organisation) wrote: escaped against formulas in CSV.
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `name=value;...` in CSV, an object in JSON.
    Pairs(Vec<(String, f64)>),
    /// Whole numbers by name: `name=3;...` in CSV, an object of integers in JSON (never `3.0`).
    Counts(Vec<(String, i64)>),
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell that a spreadsheet would take for a formula gets a leading `'`.
pub fn defuse(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_TRIGGERS) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn float_text(v: f64) -> String {
    // Rust prints floats in plain decimal (no exponent), shortest round-trip form.
    format!("{v}")
}

/// `name=value;name=value`, each value as `text` writes it.
fn pairs_text<V: Copy>(pairs: &[(String, V)], text: impl Fn(V) -> String) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", text(*v)))
        .collect::<Vec<_>>()
        .join(";")
}

/// `{"name": value, ...}` in the pairs' order.
fn pairs_json<V: Copy + Into<serde_json::Value>>(
    out: &mut Vec<u8>,
    pairs: &[(String, V)],
) -> serde_json::Result<()> {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), (*v).into()))
        .collect();
    serde_json::to_writer(out, &map)
}

fn csv_writer(start: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(start)
}

/// Encodes rows of a fixed set of columns into one of the formats, chunk by chunk.
pub struct Encoder {
    format: Format,
    columns: &'static [&'static str],
    csv: csv::Writer<Vec<u8>>,
    json: Vec<u8>,
    rows: u64,
}

impl Encoder {
    pub fn new(format: Format, columns: &'static [&'static str], bom: bool) -> Encoder {
        let start = if bom && format == Format::Csv {
            "\u{feff}".as_bytes().to_vec()
        } else {
            Vec::new()
        };
        let mut e = Encoder {
            format,
            columns,
            csv: csv_writer(start),
            json: Vec::new(),
            rows: 0,
        };
        match format {
            Format::Csv => {
                // The header row never fails to encode into memory.
                let _ = e.csv.write_record(columns);
            }
            Format::Json => e.json.push(b'['),
            Format::Ndjson => {}
        }
        e
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes encoded so far and not yet taken.
    pub fn pending(&self) -> usize {
        match self.format {
            Format::Csv => self.csv.get_ref().len(),
            _ => self.json.len(),
        }
    }

    pub fn push(&mut self, cells: &[Cell]) -> std::io::Result<()> {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows += 1;
        match self.format {
            Format::Csv => {
                let texts: Vec<String> = cells
                    .iter()
                    .map(|c| match c {
                        Cell::Null => String::new(),
                        Cell::Text(s) => defuse(s).into_owned(),
                        Cell::Int(n) => n.to_string(),
                        Cell::Float(f) => float_text(*f),
                        Cell::Bool(b) => b.to_string(),
                        Cell::Pairs(p) => defuse(&pairs_text(p, float_text)).into_owned(),
                        Cell::Counts(p) => defuse(&pairs_text(p, |n| n.to_string())).into_owned(),
                    })
                    .collect();
                self.csv.write_record(&texts).map_err(std::io::Error::other)
            }
            Format::Json | Format::Ndjson => {
                if self.format == Format::Json && self.rows > 1 {
                    self.json.push(b',');
                }
                if self.format == Format::Json {
                    self.json.push(b'\n');
                }
                self.json.push(b'{');
                for (i, (name, cell)) in self.columns.iter().zip(cells).enumerate() {
                    if i > 0 {
                        self.json.push(b',');
                    }
                    serde_json::to_writer(&mut self.json, name)?;
                    self.json.push(b':');
                    match cell {
                        Cell::Null => self.json.extend_from_slice(b"null"),
                        Cell::Text(s) => serde_json::to_writer(&mut self.json, s)?,
                        Cell::Int(n) => serde_json::to_writer(&mut self.json, n)?,
                        Cell::Float(f) => serde_json::to_writer(&mut self.json, f)?,
                        Cell::Bool(b) => serde_json::to_writer(&mut self.json, b)?,
                        Cell::Pairs(p) => pairs_json(&mut self.json, p)?,
                        Cell::Counts(p) => pairs_json(&mut self.json, p)?,
                    }
                }
                self.json.push(b'}');
                if self.format == Format::Ndjson {
                    self.json.push(b'\n');
                }
                Ok(())
            }
        }
    }

    /// Take the bytes encoded so far.
    pub fn take(&mut self) -> std::io::Result<Vec<u8>> {
        match self.format {
            Format::Csv => {
                let full = std::mem::replace(&mut self.csv, csv_writer(Vec::new()));
                full.into_inner().map_err(|e| e.into_error())
            }
            _ => Ok(std::mem::take(&mut self.json)),
        }
    }

    /// Take the last bytes: what is pending and the format's ending.
    pub fn finish(&mut self) -> std::io::Result<Vec<u8>> {
        if self.format == Format::Json {
            if self.rows > 0 {
                self.json.push(b'\n');
            }
            self.json.extend_from_slice(b"]\n");
        }
        self.take()
    }
}

/// Stable within one export, unlinkable across exports: HMAC-SHA256 of the member id under a
/// key drawn for this export alone and never stored.
pub struct Pseudonymiser {
    key: [u8; 32],
}

impl Pseudonymiser {
    pub fn new() -> Pseudonymiser {
        Pseudonymiser {
            key: rand::random(),
        }
    }

    pub fn pseudonym(&self, member: Uuid) -> String {
        let mac = hmac_sha256(&self.key, member.as_bytes());
        format!("P-{}", hex::encode(&mac[..8]))
    }
}

impl Default for Pseudonymiser {
    fn default() -> Self {
        Self::new()
    }
}

/// HMAC-SHA256 (RFC 2104) for keys of at most one block (64 bytes).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 1.
        let mac = hmac_sha256(&[0x0b; 20], b"Hi There");
        assert_eq!(
            hex::encode(mac),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_between_keys() {
        let id = Uuid::new_v4();
        let (a, b) = (Pseudonymiser::new(), Pseudonymiser::new());
        assert_eq!(a.pseudonym(id), a.pseudonym(id));
        assert_ne!(a.pseudonym(id), b.pseudonym(id));
        assert_eq!(a.pseudonym(id).len(), 18);
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_defused_and_numbers_are_not() {
        const COLS: &[&str] = &["name", "points", "kpis", "values"];
        let mut e = Encoder::new(Format::Csv, COLS, false);
        e.push(&[
            Cell::Text("=HYPERLINK(\"http://x\")".into()),
            Cell::Int(-5),
            Cell::Pairs(vec![("aht".into(), -1.5), ("csat_b".into(), 4.0)]),
            Cell::Counts(vec![("CustomerFirst".into(), 3), ("OwnIt".into(), 0)]),
        ])
        .unwrap();
        e.push(&[
            Cell::Text("Åse, \"the\" best".into()),
            Cell::Null,
            Cell::Pairs(vec![]),
            Cell::Counts(vec![]),
        ])
        .unwrap();
        let text = String::from_utf8(e.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "name,points,kpis,values\r\n\"'=HYPERLINK(\"\"http://x\"\")\",-5,aht=-1.5;csat_b=4,CustomerFirst=3;OwnIt=0\r\n\"Åse, \"\"the\"\" best\",,,\r\n"
        );
    }

    #[test]
    fn json_is_one_array_and_ndjson_one_object_a_line() {
        const COLS: &[&str] = &["a", "b"];
        let mut e = Encoder::new(Format::Json, COLS, false);
        assert_eq!(e.finish().unwrap(), b"[]\n");
        let mut e = Encoder::new(Format::Json, COLS, false);
        e.push(&[Cell::Int(1), Cell::Bool(true)]).unwrap();
        let mut bytes = e.take().unwrap();
        e.push(&[Cell::Float(2.5), Cell::Pairs(vec![("x".into(), 1.0)])])
            .unwrap();
        e.push(&[
            Cell::Counts(vec![("Own_it".into(), 2)]),
            Cell::Counts(vec![]),
        ])
        .unwrap();
        bytes.extend(e.finish().unwrap());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("{\"a\":{\"Own_it\":2},\"b\":{}}"), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"a": 1, "b": true}, {"a": 2.5, "b": {"x": 1.0}}, {"a": {"Own_it": 2}, "b": {}}])
        );
        let mut e = Encoder::new(Format::Ndjson, COLS, false);
        e.push(&[Cell::Null, Cell::Text("=x".into())]).unwrap();
        assert_eq!(e.finish().unwrap(), b"{\"a\":null,\"b\":\"=x\"}\n");
    }
}
