//! XML (cXML) documents as compact trees (every node in one vector, every name and text in one
//! string), read with quick-xml under fixed bounds: no DTD is fetched, no entity is declared or
//! expanded, depth and size are limited. `Document::to_json` gives the JsonML a jq mapping reads.

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

/// A piece of [`Document::arena`]: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span(u32, u32);

/// No node: the end of a list of children.
const NONE: u32 = u32::MAX;

/// An element (its name, attributes and children) or a piece of text, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    /// The element's name, or the text.
    span: Span,
    /// `None` for text; the element's attributes, `attrs[first..first + count]`.
    attrs: Option<(u32, u32)>,
    first_child: u32,
    next: u32,
}

/// An element being read: its node and its last child so far (`NONE` without children).
struct Open {
    node: u32,
    last: u32,
}

/// A parsed document: its nodes (the root element first) and the DOCTYPE text, if any.
/// About 30 bytes a node beside the text itself, where a JsonML tree of `serde_json` values
/// took several hundred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    nodes: Vec<Node>,
    /// Attribute names and values.
    attrs: Vec<(Span, Span)>,
    arena: String,
    pub doctype: Option<String>,
}

/// One element of a [`Document`].
#[derive(Debug, Clone, Copy)]
pub struct El<'d> {
    doc: &'d Document,
    i: u32,
}

/// A child of an element: an element or a piece of text (trimmed, never only whitespace).
#[derive(Debug, Clone, Copy)]
pub enum Child<'d> {
    El(El<'d>),
    Text(&'d str),
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

impl Document {
    fn str(&self, s: Span) -> &str {
        &self.arena[s.0 as usize..s.1 as usize]
    }

    fn put(&mut self, s: &str) -> Span {
        let start = self.arena.len() as u32;
        self.arena.push_str(s);
        Span(start, self.arena.len() as u32)
    }

    /// Appends node `n` as the last child of `parent` (or as the root).
    fn append(&mut self, parent: Option<&mut Open>, n: Node) -> u32 {
        let i = self.nodes.len() as u32;
        self.nodes.push(n);
        if let Some(p) = parent {
            if p.last == NONE {
                self.nodes[p.node as usize].first_child = i;
            } else {
                self.nodes[p.last as usize].next = i;
            }
            p.last = i;
        }
        i
    }

    /// The root element.
    pub fn root(&self) -> El<'_> {
        El { doc: self, i: 0 }
    }

    /// The document as JsonML (`["Tag", {attributes}, child, ...]`, text as strings), the input
    /// a cXML mapping reads.
    pub fn to_json(&self) -> Value {
        self.root().to_json()
    }
}

impl<'d> El<'d> {
    fn node(&self) -> &'d Node {
        &self.doc.nodes[self.i as usize]
    }

    /// The element's name.
    pub fn name(&self) -> &'d str {
        self.doc.str(self.node().span)
    }

    /// Attribute `name` (the last one so named, as a JsonML object keeps it).
    pub fn attr(&self, name: &str) -> Option<&'d str> {
        let (first, count) = self.node().attrs?;
        self.doc.attrs[first as usize..(first + count) as usize]
            .iter()
            .rev()
            .find(|(k, _)| self.doc.str(*k) == name)
            .map(|(_, v)| self.doc.str(*v))
    }

    /// The element's children in document order.
    pub fn children(&self) -> impl Iterator<Item = Child<'d>> + 'd {
        let doc = self.doc;
        let mut at = self.node().first_child;
        std::iter::from_fn(move || {
            let n = doc.nodes.get(at as usize)?;
            let i = at;
            at = n.next;
            Some(match n.attrs {
                Some(_) => Child::El(El { doc, i }),
                None => Child::Text(doc.str(n.span)),
            })
        })
    }

    /// The child elements, whatever their names.
    pub fn elements(&self) -> impl Iterator<Item = El<'d>> + 'd {
        self.children().filter_map(|c| match c {
            Child::El(e) => Some(e),
            Child::Text(_) => None,
        })
    }

    /// The child elements named `name`.
    pub fn kids(&self, name: &'d str) -> impl Iterator<Item = El<'d>> + 'd {
        self.elements().filter(move |e| e.name() == name)
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<El<'d>> {
        self.elements().find(|e| e.name() == name)
    }

    /// The first child element, whatever its name.
    pub fn first_element(&self) -> Option<El<'d>> {
        self.elements().next()
    }

    /// The text directly inside the element.
    pub fn text(&self) -> String {
        self.children()
            .filter_map(|c| match c {
                Child::Text(t) => Some(t),
                Child::El(_) => None,
            })
            .collect()
    }

    /// The element as JsonML.
    pub fn to_json(&self) -> Value {
        let mut attrs = Map::new();
        if let Some((first, count)) = self.node().attrs {
            for (k, v) in &self.doc.attrs[first as usize..(first + count) as usize] {
                attrs.insert(
                    self.doc.str(*k).to_string(),
                    Value::String(self.doc.str(*v).to_string()),
                );
            }
        }
        let mut out = vec![Value::String(self.name().to_string()), Value::Object(attrs)];
        out.extend(self.children().map(|c| match c {
            Child::El(e) => e.to_json(),
            Child::Text(t) => Value::String(t.to_string()),
        }));
        Value::Array(out)
    }
}

/// Parses `data` (UTF-8) into a tree. Text that is only whitespace is dropped; other text is
/// trimmed.
pub fn parse(data: &[u8]) -> Result<Document, XmlError> {
    let text = std::str::from_utf8(data).map_err(|e| XmlError {
        offset: e.valid_up_to(),
        message: "the document is not UTF-8".into(),
    })?;
    if text.len() >= NONE as usize {
        return Err(XmlError {
            offset: 0,
            message: format!(
                "a document of {} bytes is too large to read whole",
                text.len()
            ),
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut doc = Document {
        nodes: Vec::new(),
        attrs: Vec::new(),
        arena: String::new(),
        doctype: None,
    };
    // The open elements, innermost last.
    let mut stack: Vec<Open> = Vec::new();
    let mut pending = String::new();
    let mut closed = false;
    let mut elements = 0usize;
    let err = |reader: &Reader<&[u8]>, message: String| XmlError {
        offset: reader.buffer_position() as usize,
        message,
    };
    fn flush(pending: &mut String, stack: &mut [Open], doc: &mut Document) {
        let t = pending.trim();
        if let (false, Some(top)) = (t.is_empty(), stack.last_mut()) {
            let span = doc.put(t);
            doc.append(Some(top), text_node(span));
        }
        pending.clear();
    }
    loop {
        let ev = reader.read_event().map_err(|e| XmlError {
            offset: reader.error_position() as usize,
            message: e.to_string(),
        })?;
        match ev {
            Event::Start(_) | Event::Empty(_) if closed => {
                return Err(err(&reader, "content after the root element".into()));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                flush(&mut pending, &mut stack, &mut doc);
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
                let name = doc.put(e.name().as_ref());
                let first = doc.attrs.len() as u32;
                for a in e.attributes() {
                    let a = a.map_err(|x| err(&reader, x.to_string()))?;
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|x| err(&reader, format!("attribute value: {x}")))?;
                    let k = doc.put(a.key.as_ref());
                    let v = doc.put(&v);
                    doc.attrs.push((k, v));
                }
                let node = Node {
                    span: name,
                    attrs: Some((first, doc.attrs.len() as u32 - first)),
                    first_child: NONE,
                    next: NONE,
                };
                let i = doc.append(stack.last_mut(), node);
                if matches!(ev, Event::Start(_)) {
                    stack.push(Open {
                        node: i,
                        last: NONE,
                    });
                } else if stack.is_empty() {
                    closed = true;
                }
            }
            Event::End(_) => {
                flush(&mut pending, &mut stack, &mut doc);
                stack
                    .pop()
                    .ok_or_else(|| err(&reader, "unbalanced end tag".into()))?;
                closed = stack.is_empty();
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
                doc.doctype = Some(d.trim().to_string());
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError {
            offset: text.len(),
            message: format!(
                "the document ends inside <{}>",
                El {
                    doc: &doc,
                    i: open.node
                }
                .name()
            ),
        });
    }
    if doc.nodes.is_empty() {
        return Err(XmlError {
            offset: 0,
            message: "no root element".into(),
        });
    }
    doc.nodes.shrink_to_fit();
    doc.attrs.shrink_to_fit();
    doc.arena.shrink_to_fit();
    Ok(doc)
}

fn text_node(span: Span) -> Node {
    Node {
        span,
        attrs: None,
        first_child: NONE,
        next: NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_elements_attributes_text_and_references() {
        let d = parse(b"<?xml version=\"1.0\"?>\n<!DOCTYPE cXML SYSTEM \"http://x/cXML.dtd\">\n<a k=\"1 &amp; 2\" j=\"0\"> x &lt; y&#33; <b/><![CDATA[<c>]]><d><e z=\"1\">t</e></d></a>").unwrap();
        assert_eq!(
            d.to_json(),
            json!(["a", {"j": "0", "k": "1 & 2"}, "x < y!", ["b", {}], "<c>", ["d", {}, ["e", {"z": "1"}, "t"]]])
        );
        assert!(d.doctype.as_deref().unwrap().contains("cXML.dtd"));
        let a = d.root();
        assert_eq!(
            (a.name(), a.attr("k"), a.attr("x")),
            ("a", Some("1 & 2"), None)
        );
        assert_eq!(a.text(), "x < y!<c>");
        assert_eq!(a.first_element().map(|e| e.name()), Some("b"));
        let e = a.child("d").and_then(|d| d.child("e")).unwrap();
        assert_eq!((e.text(), e.attr("z")), ("t".to_string(), Some("1")));
        assert_eq!(a.kids("b").count(), 1);
        assert!(a.child("e").is_none());
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
        assert!(parse(b"<a>")
            .unwrap_err()
            .message
            .contains("ends inside <a>"));
        assert!(parse(b"<a/><b/>").is_err());
        assert!(parse(b"<a></a><b/>").is_err());
        assert!(parse(b"<a/>x").is_err());
        assert!(parse(b"  ").unwrap_err().message.contains("no root"));
        assert!(parse(b"\xff\xfe<").is_err());
    }
}
