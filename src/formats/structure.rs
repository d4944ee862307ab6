//! Message structures shared by every syntax: the segments and loops of a transaction set or
//! message (X12 loops, EDIFACT segment groups) read from data files, and the matcher that walks
//! a message against it and reports every misplaced, repeated or missing segment.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    Mandatory,
    Optional,
    /// Conditional: required by a syntax note (not checked yet), otherwise optional.
    Conditional,
}

/// A node of a transaction set structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Segment {
        id: String,
        req: Req,
        max: usize,
        /// `id` packed by [`tag`], for fast matching.
        tag: u64,
    },
    Loop {
        id: String,
        req: Req,
        max: usize,
        children: Vec<Node>,
        /// The trigger segment packed by [`tag`].
        tag: u64,
        /// Precomputed facts about `children`.
        shape: Shape,
    },
}

/// A segment tag (or a short code) packed into an integer: its first eight bytes, with its
/// length mixed into the top byte. Two tags of up to seven bytes share a packing only when
/// they are equal; a longer tag never shares one with a shorter (its top bit is set), only,
/// perhaps, with another long one.
pub const fn tag(id: &[u8]) -> u64 {
    // Byte by byte in registers: copying into a buffer to load it whole stalls the load.
    let mut v = 0u64;
    let mut k = 0;
    while k < id.len() && k < 8 {
        v |= (id[k] as u64) << (8 * k);
        k += 1;
    }
    // A short tag's length lands in bits 59 to 61, above its bytes.
    let v = v ^ (id.len() as u64) << 59;
    if id.len() > 7 {
        v | 1 << 63
    } else {
        v
    }
}

impl Node {
    /// The segment that starts this node.
    pub fn trigger(&self) -> &str {
        match self {
            Node::Segment { id, .. } => id,
            Node::Loop { children, .. } => children.first().map_or("", |c| c.trigger()),
        }
    }

    /// The trigger segment, packed.
    pub fn tag(&self) -> u64 {
        match self {
            Node::Segment { tag, .. } | Node::Loop { tag, .. } => *tag,
        }
    }

    pub fn req(&self) -> Req {
        match self {
            Node::Segment { req, .. } | Node::Loop { req, .. } => *req,
        }
    }

    pub fn max(&self) -> usize {
        match self {
            Node::Segment { max, .. } | Node::Loop { max, .. } => *max,
        }
    }

    fn contains(&self, seg: &str) -> bool {
        match self {
            Node::Segment { id, .. } => id == seg,
            Node::Loop { children, .. } => children.iter().any(|c| c.contains(seg)),
        }
    }
}

/// The structure of one transaction set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSpec {
    pub id: String,
    /// Expected GS01 functional identifier.
    pub functional_id: String,
    pub title: String,
    /// Versions (GS08, first six characters) this definition applies to.
    pub versions: Vec<String>,
    /// The body: everything between ST and SE.
    pub body: Vec<Node>,
    /// Precomputed facts about `body`.
    pub shape: Shape,
}

impl SetSpec {
    /// Whether this definition covers a group version such as `004010` or `005010X222A1`.
    pub fn covers(&self, version: &str) -> bool {
        self.versions
            .iter()
            .any(|v| version.starts_with(v.as_str()))
    }

    pub fn uses(&self, seg: &str) -> bool {
        self.body.iter().any(|n| n.contains(seg))
    }
}

pub fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim_end()))
        .filter(|(_, l)| !l.trim().is_empty())
}

pub fn req(s: &str) -> Option<Req> {
    match s {
        "M" => Some(Req::Mandatory),
        "O" | "C" => Some(Req::Optional),
        "X" => Some(Req::Conditional),
        _ => None,
    }
}

fn repeat(s: &str) -> Option<usize> {
    if s == ">1" {
        Some(usize::MAX)
    } else {
        s.parse().ok().filter(|n| *n > 0)
    }
}

/// Parses a set file: a header `set ID FUNCTIONAL "Title"`, then one node per line, loops
/// opened by `loop ID REQ MAX` and closed by indentation.
/// X12 versions are six digits (`004010`); EDIFACT directories look like `D96A` or `D3`.
fn is_version(v: &str) -> bool {
    (v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit()))
        || (v.starts_with('D')
            && (2..=4).contains(&v.len())
            && v.bytes().skip(1).all(|b| b.is_ascii_alphanumeric()))
}

pub fn parse_set(text: &str) -> Result<SetSpec, (usize, String)> {
    let mut it = lines(text).peekable();
    let (n, head) = it.next().ok_or((1, "empty set file".to_string()))?;
    let f: Vec<&str> = head.split_whitespace().collect();
    if f.len() < 4 || f[0] != "set" {
        return Err((
            n,
            "the first line must be: set ID FUNCTIONAL_ID VERSION... Title".into(),
        ));
    }
    let versions: Vec<String> = f[3..]
        .iter()
        .take_while(|v| is_version(v))
        .map(|v| v.to_string())
        .collect();
    if versions.is_empty() {
        return Err((
            n,
            "the set line names no version (such as 004010 or D96A)".into(),
        ));
    }
    let body_lines: Vec<(usize, usize, &str)> = it
        .map(|(n, l)| (n, l.len() - l.trim_start().len(), l.trim()))
        .collect();
    let (body, rest) = parse_nodes(&body_lines, 0)?;
    if let Some((n, _, _)) = rest.first() {
        return Err((*n, "unexpected indentation".into()));
    }
    Ok(SetSpec {
        shape: Shape::of(&body),
        id: f[1].to_string(),
        functional_id: f[2].to_string(),
        title: f[3 + versions.len()..].join(" "),
        versions,
        body,
    })
}

type Lines<'a> = [(usize, usize, &'a str)];

fn parse_nodes<'a, 'l>(
    mut ls: &'l Lines<'a>,
    indent: usize,
) -> Result<(Vec<Node>, &'l Lines<'a>), (usize, String)> {
    let mut nodes = Vec::new();
    while let Some(&(n, ind, l)) = ls.first() {
        if ind < indent {
            break;
        }
        if ind > indent {
            return Err((n, "unexpected indentation".into()));
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        ls = &ls[1..];
        let bad = || {
            (
                n,
                format!("expected `SEG REQ MAX` or `loop ID REQ MAX`, got {l:?}"),
            )
        };
        if f[0] == "loop" {
            if f.len() != 4 {
                return Err(bad());
            }
            let (req, max) = (req(f[2]).ok_or_else(bad)?, repeat(f[3]).ok_or_else(bad)?);
            let child_indent = ls.first().map_or(0, |x| x.1);
            if child_indent <= indent {
                return Err((n, format!("loop {} has no segments", f[1])));
            }
            let (children, rest) = parse_nodes(ls, child_indent)?;
            ls = rest;
            let trigger = children.first().map_or(0, Node::tag);
            nodes.push(Node::Loop {
                tag: trigger,
                shape: Shape::of(&children),
                id: f[1].to_string(),
                req,
                max,
                children,
            });
        } else {
            if f.len() != 3 {
                return Err(bad());
            }
            nodes.push(Node::Segment {
                tag: tag(f[0].as_bytes()),
                id: f[0].to_string(),
                req: req(f[1]).ok_or_else(bad)?,
                max: repeat(f[2]).ok_or_else(bad)?,
            });
        }
    }
    Ok((nodes, ls))
}

/// How a segment does not fit its message structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfit {
    /// A mandatory segment or loop never occurred.
    Missing,
    /// A segment occurred more often than allowed.
    Repeats,
    /// A loop (segment group) occurred more often than allowed.
    LoopRepeats,
    /// A segment of this message, in a place where it cannot be.
    Unexpected,
    /// A known segment that this message does not use.
    NotInSet,
    /// A segment tag that is not known at all.
    Unknown,
}

/// One structure problem, at segment `index` of the message (0 = its header segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructError {
    pub index: usize,
    pub offset: usize,
    pub segment_id: String,
    pub kind: Misfit,
    pub is_loop: bool,
    pub max: usize,
}

impl StructError {
    pub fn what(&self) -> &'static str {
        if self.is_loop {
            "loop"
        } else {
            "segment"
        }
    }

    /// The sentence every syntax reports; `message` names a transaction set or a message.
    pub fn message(&self, message: &str) -> String {
        let id = &self.segment_id;
        match self.kind {
            Misfit::Missing => format!("mandatory {} {id} is missing", self.what()),
            Misfit::Repeats => format!("segment {id} occurs more than {} time(s) here", self.max),
            Misfit::LoopRepeats => format!("loop {id} occurs more than {} time(s)", self.max),
            Misfit::Unexpected => format!("segment {id} is not expected here (out of order)"),
            Misfit::NotInSet => format!("segment {id} is not part of this {message}"),
            Misfit::Unknown => format!("segment {id} is not a recognised segment"),
        }
    }
}

/// Walks a whole message, `(tag, offset)` per segment from its header (ST, UNH) to its
/// trailer (SE, UNT; absent when `closed` is false), against `set`.
pub fn walk_message<'b>(
    set: &SetSpec,
    segments: impl ExactSizeIterator<Item = (&'b [u8], usize)>,
    closed: bool,
    known: impl Fn(&str) -> bool,
) -> Vec<StructError> {
    let n = segments.len();
    let end = if closed { n.saturating_sub(1) } else { n };
    let last = std::cell::Cell::new((end, 0));
    let body = segments.enumerate().filter_map(|(i, (id, offset))| {
        if i == end.min(n.saturating_sub(1)) {
            last.set((end, offset));
        }
        (i >= 1 && i < end).then_some((i, id, offset))
    });
    walk(set, body, &last, known)
}

/// Facts about one list of nodes, computed once when definitions are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// Per position `k` (and one past the end): the first mandatory node at `k` or after it
    /// (the number of nodes when there is none).
    pub next_mandatory: Vec<u32>,
    /// The trigger tag of each node, in order (scanned from the cursor: in a message in order
    /// the next segment's node is a few steps ahead).
    pub tags: Vec<u64>,
    /// Per position `k` (and one past the end): the [`bit`]s of the tags from `k` on, so that
    /// a level without the segment is passed over without a scan.
    pub after: Vec<u64>,
}

impl Shape {
    pub fn of(nodes: &[Node]) -> Shape {
        let tags: Vec<u64> = nodes.iter().map(Node::tag).collect();
        let mut after = vec![0; tags.len() + 1];
        for k in (0..tags.len()).rev() {
            after[k] = after[k + 1] | bit(tags[k]);
        }
        let mut next_mandatory = vec![nodes.len() as u32; nodes.len() + 1];
        for k in (0..nodes.len()).rev() {
            next_mandatory[k] = if nodes[k].req() == Req::Mandatory {
                k as u32
            } else {
                next_mandatory[k + 1]
            };
        }
        Shape {
            next_mandatory,
            tags,
            after,
        }
    }
}

/// One bit of 64 chosen by a packed tag (a one-word Bloom filter).
fn bit(tag: u64) -> u64 {
    1 << (tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

struct Frame<'s> {
    nodes: &'s [Node],
    shape: &'s Shape,
    cursor: usize,
    /// Occurrences of each node so far (saturating; maxima beyond `u32` mean unbounded).
    counts: Vec<u32>,
}

impl<'s> Frame<'s> {
    fn new(nodes: &'s [Node], shape: &'s Shape, pool: &mut Vec<Vec<u32>>) -> Self {
        let mut counts = pool.pop().unwrap_or_default();
        counts.clear();
        counts.resize(nodes.len(), 0);
        Frame {
            nodes,
            shape,
            cursor: 0,
            counts,
        }
    }

    /// Mandatory nodes from the cursor up to `to` that never occurred.
    fn missing(&self, to: usize) -> impl Iterator<Item = &'s Node> + '_ {
        let next = &self.shape.next_mandatory;
        // `next` ends with the number of nodes, past which there is no successor.
        std::iter::successors(Some(next[self.cursor] as usize), move |&k| {
            next.get(k + 1).map(|&m| m as usize)
        })
        .take_while(move |&k| k < to)
        .filter(|&k| self.counts[k] == 0)
        .map(|k| &self.nodes[k])
    }
}

/// Where segment `id` fits: (frame level, node index, over its maximum).
fn find(stack: &[Frame<'_>], id: u64) -> Option<(usize, usize, bool)> {
    let mut fallback = None;
    let b = bit(id);
    for level in (0..stack.len()).rev() {
        let f = &stack[level];
        if f.shape.after[f.cursor] & b == 0 {
            continue;
        }
        let tags = f.shape.tags.iter().enumerate().skip(f.cursor);
        for j in tags.filter(|(_, t)| **t == id).map(|(j, _)| j) {
            let node = &f.nodes[j];
            // A node already used up lets an enclosing loop start a new iteration instead.
            let trigger_again = j == 0 && level > 0 && matches!(node, Node::Segment { .. });
            if f.counts[j] as usize >= node.max() || trigger_again {
                fallback.get_or_insert((level, j, true));
                continue;
            }
            return Some((level, j, false));
        }
    }
    fallback
}

/// A tag as text for a report (`?` when it is not UTF-8).
fn text(id: &[u8]) -> &str {
    std::str::from_utf8(id).unwrap_or("?")
}

/// Walks the body segments of one message, `(index, tag, offset)` in order, against `set`.
/// `end` holds the index and offset of the trailer (where missing segments are reported at the
/// end) once `body` is consumed; `known` says whether a tag exists in the segment dictionary.
pub fn walk<'b>(
    set: &SetSpec,
    body: impl Iterator<Item = (usize, &'b [u8], usize)>,
    end: &std::cell::Cell<(usize, usize)>,
    known: impl Fn(&str) -> bool,
) -> Vec<StructError> {
    let mut out = Vec::new();
    thread_local! {
        /// Frame counters left by earlier walks on this thread, for reuse.
        static POOL: std::cell::RefCell<Vec<Vec<u32>>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut pool = POOL.with_borrow_mut(std::mem::take);
    let mut stack = Vec::with_capacity(8);
    stack.push(Frame::new(&set.body, &set.shape, &mut pool));
    let missing = |node: &Node, at: (usize, usize), out: &mut Vec<StructError>| {
        out.push(StructError {
            index: at.0,
            offset: at.1,
            segment_id: node.trigger().to_string(),
            kind: Misfit::Missing,
            is_loop: matches!(node, Node::Loop { .. }),
            max: node.max(),
        })
    };
    for (i, id, offset) in body {
        let at = (i, offset);
        let Some((level, j, over)) = find(&stack, tag(id)) else {
            let id = text(id);
            let kind = if set.uses(id) {
                Misfit::Unexpected
            } else if known(id) {
                Misfit::NotInSet
            } else {
                Misfit::Unknown
            };
            out.push(StructError {
                index: i,
                offset,
                segment_id: id.to_string(),
                kind,
                is_loop: false,
                max: 0,
            });
            continue;
        };
        while stack.len() > level + 1 {
            let f = stack.pop().expect("deeper frame");
            f.missing(f.nodes.len())
                .for_each(|n| missing(n, at, &mut out));
            pool.push(f.counts);
        }
        let f = stack.last_mut().expect("frame");
        f.missing(j).for_each(|n| missing(n, at, &mut out));
        f.cursor = j;
        f.counts[j] = f.counts[j].saturating_add(1);
        match &f.nodes[j] {
            Node::Segment { max, .. } => {
                if over {
                    out.push(StructError {
                        index: i,
                        offset,
                        segment_id: text(id).to_string(),
                        kind: Misfit::Repeats,
                        is_loop: false,
                        max: *max,
                    });
                }
            }
            Node::Loop {
                max,
                children,
                shape,
                ..
            } => {
                if over {
                    out.push(StructError {
                        index: i,
                        offset,
                        segment_id: text(id).to_string(),
                        kind: Misfit::LoopRepeats,
                        is_loop: true,
                        max: *max,
                    });
                }
                let mut inner = Frame::new(children, shape, &mut pool);
                inner.counts[0] = 1;
                stack.push(inner);
            }
        }
    }
    // `end` (the trailer's index and offset) is known once `body` is consumed.
    let end = end.get();
    while let Some(f) = stack.pop() {
        f.missing(f.nodes.len())
            .for_each(|n| missing(n, end, &mut out));
        pool.push(f.counts);
    }
    POOL.with_borrow_mut(|p| *p = pool);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape of `nodes` and of the loops inside them.
    fn shapes<'n>(nodes: &'n [Node], shape: &'n Shape, out: &mut Vec<(&'n [Node], &'n Shape)>) {
        out.push((nodes, shape));
        for n in nodes {
            if let Node::Loop {
                children, shape, ..
            } = n
            {
                shapes(children, shape, out);
            }
        }
    }

    #[test]
    fn the_shortcuts_of_every_shipped_structure_skip_nothing_a_scan_would_find() {
        let x12 = crate::formats::x12::spec::Standards::builtin();
        let edifact = crate::formats::edifact::validate::Messages::builtin();
        let sets: Vec<&SetSpec> = x12.sets.values().chain(edifact.sets.values()).collect();
        assert!(sets.len() > 10, "{} sets", sets.len());
        let mut all = Vec::new();
        for set in sets {
            shapes(&set.body, &set.shape, &mut all);
        }
        for (nodes, shape) in all {
            for k in 0..=nodes.len() {
                // The Bloom word at `k` holds the bit of every tag from `k` on, so a level it
                // rules out has no such tag.
                for n in &nodes[k..] {
                    assert_ne!(shape.after[k] & bit(n.tag()), 0, "{}", n.trigger());
                }
                let first = (k..nodes.len())
                    .find(|&j| nodes[j].req() == Req::Mandatory)
                    .unwrap_or(nodes.len());
                assert_eq!(shape.next_mandatory[k] as usize, first);
            }
        }
    }

    #[test]
    fn packed_tags_keep_every_distinction_up_to_seven_bytes() {
        let ids: [&[u8]; 14] = [
            b"",
            b"A",
            b"\0A",
            b"A\0",
            b"BEG",
            b"BEG\0",
            b"BEGX",
            b"ABCDEFG",
            b"ABCDEFGx",
            b"ABCDEFGy",
            b"ABCDEFG\0",
            b"\0\0\0\0\0\0\0",
            b"\xff\xff\xff\xff\xff\xff\xff",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
        ];
        for a in ids {
            for b in ids {
                // Tags of eight bytes or more may share a packing with each other, never
                // with a shorter one.
                let long = a.len() > 7 && b.len() > 7;
                if !long {
                    assert_eq!(tag(a) == tag(b), a == b, "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn a_tag_absent_from_a_level_is_mostly_ruled_out_by_its_bloom_word() {
        let x12 = crate::formats::x12::spec::Standards::builtin();
        let set = &x12.sets["850"];
        // At the top level, from the PO1 loop on, only the PO1 and CTT loops remain.
        let po1 = set.body.iter().position(|n| n.trigger() == "PO1").unwrap();
        let ruled_out = ["PID", "N1", "REF", "DTM", "SE", "MEA", "N9"]
            .iter()
            .filter(|t| set.shape.after[po1] & bit(tag(t.as_bytes())) == 0)
            .count();
        assert!(ruled_out >= 5, "{ruled_out}");
    }
}
