//! Canonical JSON written by hand, byte for byte as serde_json writes the derived types (for
//! the compiled twins, which write records straight from segments).

#[inline]
/// Appends `s` as a JSON string, escaped as serde_json escapes it: `"` and `\`, the short
/// escapes `\b \t \n \f \r`, other control characters as `\u00xx`; everything else as is.
pub fn string(out: &mut String, s: &str) {
    // Nearly every value needs no escape: one branch-free test, then one copy.
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    out.reserve(s.len() + 2);
    out.push('"');
    if plain {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0C => "\\f",
            b'\r' => "\\r",
            0..=0x1F => "",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        from = i + 1;
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[from..]);
    out.push('"');
}

/// Appends `s` as a JSON string; `plain` when `s` is known to need no escape (printable
/// ASCII without `"` or `\\`), which spares the test of each byte.
#[inline]
pub fn text(out: &mut String, s: &str, plain: bool) {
    if plain {
        debug_assert!(!s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        string(out, s);
    }
}

/// A JSON object being written: fields in the order they are given, as a derived
/// `Serialize` writes a struct's fields in declaration order.
pub struct Obj<'o> {
    out: &'o mut String,
    empty: bool,
    /// Whether the strings given to [`Obj::str`] and [`Obj::opt`] need no escape (see
    /// [`text`]).
    plain: bool,
}

impl<'o> Obj<'o> {
    #[inline]
    pub fn open(out: &'o mut String) -> Obj<'o> {
        Obj::open_text(out, false)
    }

    /// An object whose string fields are all `plain` (see [`text`]), but those written by
    /// [`Obj::any`].
    #[inline]
    pub fn open_text(out: &'o mut String, plain: bool) -> Obj<'o> {
        out.push('{');
        Obj {
            out,
            empty: true,
            plain,
        }
    }

    /// Whether this object's strings need no escape.
    #[inline]
    pub fn plain_text(&self) -> bool {
        self.plain
    }

    /// Field `key` holding an object whose strings are as plain as this one's.
    #[inline]
    pub fn object(&mut self, key: &str) -> Obj<'_> {
        let plain = self.plain;
        Obj::open_text(self.key(key), plain)
    }

    /// Starts field `key` (plain ASCII, nothing to escape); its value is written next into
    /// the returned buffer.
    #[inline]
    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out
    }

    /// A string field.
    #[inline]
    pub fn str(&mut self, key: &str, value: &str) {
        let plain = self.plain;
        text(self.key(key), value, plain);
    }

    /// A string field from anywhere (always escaped as needed, even in a plain object).
    #[inline]
    pub fn any(&mut self, key: &str, value: &str) {
        string(self.key(key), value);
    }

    /// An optional string field, left out when absent.
    #[inline]
    pub fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// A string field whose text needs no escaping (decimals, dates, enum names).
    #[inline]
    pub fn plain(&mut self, key: &str, value: &str) {
        let out = self.key(key);
        out.push('"');
        out.push_str(value);
        out.push('"');
    }

    #[inline]
    pub fn close(self) {
        self.out.push('}');
    }
}

/// Appends a map of strings as a JSON object, in the map's order.
pub fn object(out: &mut String, map: &std::collections::BTreeMap<String, String>) {
    out.push('{');
    for (k, (key, value)) in map.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        string(out, key);
        out.push(':');
        string(out, value);
    }
    out.push('}');
}

/// Appends a JSON array, one element per item written by `each`.
#[inline]
pub fn array<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut String, T),
) {
    out.push('[');
    for (k, item) in items.into_iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        each(out, item);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let mut every: String = (0u8..0x80).map(char::from).collect();
        every.push_str("é€😀\u{2028}\u{85}");
        let mut cases = vec![
            every,
            String::new(),
            "plain".into(),
            "\"".into(),
            "a\\".into(),
        ];
        cases.extend((0u8..0x80).map(|b| format!("x{}y", char::from(b))));
        for s in cases {
            let mut out = String::new();
            string(&mut out, &s);
            assert_eq!(out, serde_json::to_string(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn objects_and_arrays_are_written_as_serde_json_writes_them() {
        let mut out = String::new();
        let mut o = Obj::open(&mut out);
        o.str("a", "x\"y");
        o.opt("skipped", None);
        o.opt("b", Some("z"));
        o.plain("n", "1.50");
        array(o.key("list"), ["p", "q"], string);
        array(o.key("none"), Vec::<&str>::new(), string);
        Obj::open(o.key("inner")).close();
        let mut p = Obj::open_text(o.key("plain"), true);
        p.str("s", "as is");
        p.any("q", "x\"y");
        let mut inner = p.object("o");
        inner.str("t", "u");
        inner.close();
        p.close();
        o.close();
        let want = serde_json::json!({
            "a": "x\"y", "b": "z", "n": "1.50", "list": ["p", "q"], "none": [], "inner": {},
            "plain": {"s": "as is", "q": "x\"y", "o": {"t": "u"}}
        });
        assert_eq!(
            out,
            concat!(
                r#"{"a":"x\"y","b":"z","n":"1.50","list":["p","q"],"none":[],"inner":{},"#,
                r#""plain":{"s":"as is","q":"x\"y","o":{"t":"u"}}}"#
            )
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
            want
        );
    }
}
