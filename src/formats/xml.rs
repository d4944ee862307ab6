//! XML (cXML) documents as JsonML trees (`["Tag", {attributes}, child, ...]`), read with
//! quick-xml under fixed bounds: no DTD is fetched, no entity is declared or expanded, depth
//! and size are limited.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

/// Nesting deeper than this is refused.
pub const MAX_DEPTH: usize = 64;
/// More elements than this are refused (a cXML order has a few thousand at most).
pub const MAX_ELEMENTS: usize = 1_000_000;

/// Why a document cannot be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub offset: usize,
    pub message: String,
}

/// A parsed document: its root element and the DOCTYPE text, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub root: Value,
    pub doctype: Option<String>,
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses `data` (UTF-8) into a JsonML tree. Text that is only whitespace is dropped; other
/// text is trimmed.
pub fn parse(data: &[u8]) -> Result<Document, XmlError> {
    let text = std::str::from_utf8(data).map_err(|e| XmlError {
        offset: e.valid_up_to(),
        message: "the document is not UTF-8".into(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Vec<Value>> = Vec::new();
    let mut pending = String::new();
    let mut root = None;
    let mut doctype = None;
    let mut elements = 0usize;
    let err = |reader: &Reader<&[u8]>, message: String| XmlError {
        offset: reader.buffer_position() as usize,
        message,
    };
    fn flush(pending: &mut String, stack: &mut [Vec<Value>]) {
        let t = pending.trim();
        if !t.is_empty() {
            if let Some(top) = stack.last_mut() {
                top.push(Value::String(t.to_string()));
            }
        }
        pending.clear();
    }
    loop {
        let ev = reader.read_event().map_err(|e| XmlError {
            offset: reader.error_position() as usize,
            message: e.to_string(),
        })?;
        match ev {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(err(&reader, "content after the root element".into()));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                flush(&mut pending, &mut stack);
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(err(&reader, format!("more than {MAX_ELEMENTS} elements")));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        &reader,
                        format!("elements nested deeper than {MAX_DEPTH}"),
                    ));
                }
                let name = e.name().as_ref().to_string();
                let mut attrs = Map::new();
                for a in e.attributes() {
                    let a = a.map_err(|x| err(&reader, x.to_string()))?;
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|x| err(&reader, format!("attribute value: {x}")))?;
                    attrs.insert(a.key.as_ref().to_string(), Value::String(v.into_owned()));
                }
                let node = vec![Value::String(name), Value::Object(attrs)];
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(top) => top.push(Value::Array(node)),
                        None => root = Some(Value::Array(node)),
                    }
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                flush(&mut pending, &mut stack);
                let node = stack
                    .pop()
                    .ok_or_else(|| err(&reader, "unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(top) => top.push(Value::Array(node)),
                    None => root = Some(Value::Array(node)),
                }
            }
            Event::Text(t) => {
                if stack.is_empty() && !t.xml10_content().trim().is_empty() {
                    return Err(err(&reader, "text outside the root element".into()));
                }
                pending.push_str(&t.xml10_content());
            }
            Event::CData(c) => pending.push_str(&c.xml10_content()),
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let c = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| err(&reader, e.to_string()))?
                } else {
                    predefined(&name)
                };
                match c {
                    Some(c) => pending.push(c),
                    None => {
                        return Err(err(
                            &reader,
                            format!("entity &{name}; is not allowed: entities are never expanded"),
                        ))
                    }
                }
            }
            Event::DocType(d) => {
                let d = d.xml10_content().into_owned();
                if d.contains('[') || d.contains("<!ENTITY") {
                    return Err(err(
                        &reader,
                        "a DOCTYPE with an internal subset (entity declarations) is refused".into(),
                    ));
                }
                doctype = Some(d.trim().to_string());
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError {
            offset: text.len(),
            message: format!(
                "the document ends inside <{}>",
                stack.last().and_then(|n| n[0].as_str()).unwrap_or("?")
            ),
        });
    }
    let root = root.ok_or(XmlError {
        offset: 0,
        message: "no root element".into(),
    })?;
    Ok(Document { root, doctype })
}

/// The first child element of `node` named `name`.
pub fn child<'v>(node: &'v Value, name: &str) -> Option<&'v Value> {
    node.as_array()?
        .iter()
        .skip(2)
        .find(|c| c.as_array().and_then(|a| a.first()).and_then(Value::as_str) == Some(name))
}

/// The text directly inside `node`.
pub fn text(node: &Value) -> String {
    node.as_array()
        .map(|a| a.iter().skip(2).filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Attribute `name` of `node`.
pub fn attr<'v>(node: &'v Value, name: &str) -> Option<&'v str> {
    node.as_array()?.get(1)?.get(name)?.as_str()
}

/// The element name of `node`.
pub fn name(node: &Value) -> &str {
    node.as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_elements_attributes_text_and_references() {
        let d = parse(b"<?xml version=\"1.0\"?>\n<!DOCTYPE cXML SYSTEM \"http://x/cXML.dtd\">\n<a k=\"1 &amp; 2\"> x &lt; y&#33; <b/><![CDATA[<c>]]></a>").unwrap();
        assert_eq!(
            d.root,
            json!(["a", {"k": "1 & 2"}, "x < y!", ["b", {}], "<c>"])
        );
        assert!(d.doctype.unwrap().contains("cXML.dtd"));
    }

    #[test]
    fn refuses_entities_deep_nesting_and_broken_documents() {
        let e = parse(b"<!DOCTYPE a [<!ENTITY x \"xxxxxxxx\">]><a>&x;</a>").unwrap_err();
        assert!(e.message.contains("internal subset"), "{e:?}");
        let e = parse(b"<a>&x;</a>").unwrap_err();
        assert!(e.message.contains("never expanded"), "{e:?}");
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse(deep.as_bytes())
            .unwrap_err()
            .message
            .contains("deeper"));
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a>").unwrap_err().message.contains("ends inside"));
        assert!(parse(b"<a/><b/>").is_err());
        assert!(parse(b"\xff\xfe<").is_err());
    }
}
