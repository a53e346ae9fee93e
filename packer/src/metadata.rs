//! Reads bundle metadata YAML the way Airflow 1.3.2's `ExecutableCoordinator` does, and says
//! why it would be skipped or rejected.
//!
//! Airflow reads the metadata with PyYAML's `yaml.safe_load`, which follows YAML 1.1. The
//! syntax is parsed here by [`saphyr_parser`], a YAML 1.2 event parser (the block and flow
//! syntax the two versions share is what bundle metadata uses). The YAML 1.1 meaning of
//! unquoted scalars is then applied by hand ([`resolve_plain`]), with PyYAML's SafeLoader
//! rules, because that is where the two versions differ in ways that matter here: `yes`,
//! `on`, `0777` and `2024-01-01` are a boolean, an octal integer and a date to Airflow.
//!
//! Known gaps, all of them in metadata no packer writes: explicitly tagged scalars
//! (`!!int abc`) are taken at their tag without checking their text, and the few YAML 1.2
//! syntax additions PyYAML lacks are accepted.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;

use airflow_protocol::SUPERVISOR_SCHEMA_VERSION;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Tag};

/// The `sdk.supervisor_schema_version` values Airflow 1.3.2 accepts: its schema bundle has a
/// single dated version, and it is the one this SDK speaks.
pub const ACCEPTED_SCHEMA_VERSIONS: &[&str] = &[SUPERVISOR_SCHEMA_VERSION];

/// What `yaml.safe_load` makes of a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    /// A string (`str`).
    Str,
    /// `None`: `~`, `null`, `Null`, `NULL` or nothing.
    Null,
    /// A boolean: `yes`, `no`, `true`, `false`, `on`, `off` in three casings.
    Bool,
    /// An integer: decimal, `0b`, `0x`, leading-zero octal, or sexagesimal (`1:30`).
    Int,
    /// A float, including `.inf` and `.nan`.
    Float,
    /// A date or datetime (`2024-01-01`).
    Timestamp,
    /// `bytes`, from `!!binary`.
    Binary,
    /// The merge key `<<`.
    Merge,
    /// The YAML 1.1 value key `=`: a string as a mapping key, an error elsewhere.
    Value,
}

impl ScalarType {
    /// How messages name the type.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Str => "a string",
            Self::Null => "null (None)",
            Self::Bool => "a boolean",
            Self::Int => "an integer",
            Self::Float => "a float",
            Self::Timestamp => "a date/timestamp",
            Self::Binary => "bytes",
            Self::Merge => "a merge key",
            Self::Value => "a value key",
        }
    }
}

/// Where a problem is in the metadata text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A line and column, both counted from 1 (columns in characters).
    Text {
        /// The line.
        line: usize,
        /// The column.
        column: usize,
    },
    /// A byte offset from the start of the metadata.
    Byte(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text { line, column } => write!(f, "metadata line {line}, column {column}"),
            Self::Byte(offset) => write!(f, "metadata byte {offset}"),
        }
    }
}

/// Why Airflow would skip or reject a bundle because of its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataProblem {
    /// What is wrong.
    pub what: String,
    /// Where, when known.
    pub at: Option<Location>,
}

impl MetadataProblem {
    fn new(what: impl Into<String>, at: Option<Location>) -> Self {
        Self {
            what: what.into(),
            at,
        }
    }
}

impl fmt::Display for MetadataProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        if let Some(at) = &self.at {
            write!(f, " (at {at})")?;
        }
        Ok(())
    }
}

impl std::error::Error for MetadataProblem {}

/// What valid metadata says, as far as Airflow and a reader care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSummary {
    /// The DAG ids, each with the number of tasks listed under `tasks` (when it is a list).
    pub dags: BTreeMap<String, Option<usize>>,
    /// `sdk.supervisor_schema_version`.
    pub supervisor_schema_version: String,
    /// `sdk.language`, when a string.
    pub sdk_language: Option<String>,
    /// `sdk.version`, when a string.
    pub sdk_version: Option<String>,
    /// `source`, when a string: the file name of the embedded source.
    pub source: Option<String>,
}

/// Checks metadata bytes as Airflow 1.3.2 reads them: UTF-8, characters PyYAML accepts, one
/// valid YAML document whose root is a mapping, `dags` a non-empty mapping whose keys are all
/// strings (a key that YAML reads as a number, boolean or date can never match a task's
/// `dag_id`), and `sdk.supervisor_schema_version` a string Airflow 1.3.2 accepts.
pub fn check(bytes: &[u8]) -> Result<MetadataSummary, MetadataProblem> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        MetadataProblem::new(
            "metadata is not UTF-8",
            Some(Location::Byte(e.valid_up_to())),
        )
    })?;
    check_printable(text)?;
    let root = parse_document(text)?.ok_or_else(|| {
        MetadataProblem::new(
            "metadata is empty: yaml.safe_load reads it as None, not a mapping",
            None,
        )
    })?;
    let Node::Map { entries, .. } = &*root else {
        return Err(MetadataProblem::new(
            format!("metadata is {}, not a mapping", root.describe()),
            Some(root.pos()),
        ));
    };

    let (dags_key, dags) = lookup(entries, "dags")
        .ok_or_else(|| MetadataProblem::new("metadata has no `dags` key", Some(root.pos())))?;
    let Node::Map {
        entries: dag_entries,
        ..
    } = &**dags
    else {
        return Err(MetadataProblem::new(
            format!("`dags` is {}, not a mapping", dags.describe()),
            Some(dags.pos()),
        ));
    };
    let mut dag_ids = BTreeMap::new();
    for (key, value) in dag_entries {
        let Node::Scalar {
            value: id,
            ty: ScalarType::Str,
            ..
        } = &**key
        else {
            return Err(MetadataProblem::new(
                format!(
                    "DAG id `{}` is read by yaml.safe_load as {}, not a string, so it can never \
                     match a task's dag_id: quote it",
                    key.text(),
                    key.describe()
                ),
                Some(key.pos()),
            ));
        };
        let tasks = match &**value {
            Node::Map { entries, .. } => match lookup(entries, "tasks") {
                Some((_, tasks)) => match &**tasks {
                    Node::Seq { items, .. } => Some(items.len()),
                    _ => None,
                },
                None => None,
            },
            _ => None,
        };
        dag_ids.insert(id.clone(), tasks);
    }
    if dag_ids.is_empty() {
        return Err(MetadataProblem::new(
            "`dags` lists no DAG",
            Some(dags_key.pos()),
        ));
    }

    let (sdk_key, sdk) = lookup(entries, "sdk").ok_or_else(|| {
        MetadataProblem::new(
            "metadata has no `sdk` key (Airflow needs sdk.supervisor_schema_version)",
            Some(root.pos()),
        )
    })?;
    let Node::Map {
        entries: sdk_entries,
        ..
    } = &**sdk
    else {
        return Err(MetadataProblem::new(
            format!("`sdk` is {}, not a mapping", sdk.describe()),
            Some(sdk.pos()),
        ));
    };
    let (_, version) = lookup(sdk_entries, "supervisor_schema_version").ok_or_else(|| {
        MetadataProblem::new(
            "`sdk` has no `supervisor_schema_version`",
            Some(sdk_key.pos()),
        )
    })?;
    let version_text = match &**version {
        Node::Scalar {
            value,
            ty: ScalarType::Str,
            ..
        } if !value.is_empty() => value.clone(),
        Node::Scalar {
            ty: ScalarType::Str,
            ..
        } => {
            return Err(MetadataProblem::new(
                "sdk.supervisor_schema_version is empty",
                Some(version.pos()),
            ))
        }
        other => {
            return Err(MetadataProblem::new(
                format!(
                    "sdk.supervisor_schema_version `{}` is read by yaml.safe_load as {}, not a \
                     string: quote it",
                    other.text(),
                    other.describe()
                ),
                Some(version.pos()),
            ))
        }
    };
    if !ACCEPTED_SCHEMA_VERSIONS.contains(&version_text.as_str()) {
        return Err(MetadataProblem::new(
            format!(
                "sdk.supervisor_schema_version {version_text:?} is not one Airflow 1.3.2 accepts \
                 ({}): its ExecutableCoordinator would reject the bundle",
                ACCEPTED_SCHEMA_VERSIONS.join(", ")
            ),
            Some(version.pos()),
        ));
    }

    let string_at = |entries: &[(Rc<Node>, Rc<Node>)], key: &str| match lookup(entries, key) {
        Some((_, node)) => match &**node {
            Node::Scalar {
                value,
                ty: ScalarType::Str,
                ..
            } => Some(value.clone()),
            _ => None,
        },
        None => None,
    };
    Ok(MetadataSummary {
        dags: dag_ids,
        supervisor_schema_version: version_text,
        sdk_language: string_at(sdk_entries, "language"),
        sdk_version: string_at(sdk_entries, "version"),
        source: string_at(entries, "source"),
    })
}

/// The last entry whose key is the string `key` (later keys win in `yaml.safe_load`).
fn lookup<'a>(entries: &'a [(Rc<Node>, Rc<Node>)], key: &str) -> Option<(&'a Node, &'a Rc<Node>)> {
    entries.iter().rev().find_map(|(k, v)| match &**k {
        Node::Scalar {
            value,
            ty: ScalarType::Str,
            ..
        } if value == key => Some((&**k, v)),
        _ => None,
    })
}

/// PyYAML's reader refuses these characters anywhere in the stream.
fn check_printable(text: &str) -> Result<(), MetadataProblem> {
    let (mut line, mut column) = (1, 1);
    for ch in text.chars() {
        let printable = matches!(ch,
            '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}'
            | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}');
        if !printable {
            return Err(MetadataProblem::new(
                format!(
                    "metadata contains the character U+{:04X}, which YAML does not allow \
                     (yaml.safe_load refuses it)",
                    u32::from(ch)
                ),
                Some(Location::Text { line, column }),
            ));
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Ok(())
}

/// The entries of a mapping, in order (later keys win on lookup).
type Entries = Vec<(Rc<Node>, Rc<Node>)>;

/// A node as `yaml.safe_load` would build it.
#[derive(Debug)]
enum Node {
    Scalar {
        value: String,
        ty: ScalarType,
        at: Location,
    },
    Seq {
        items: Vec<Rc<Node>>,
        at: Location,
    },
    Map {
        entries: Entries,
        at: Location,
    },
    /// A collection `safe_load` builds as another Python type (`!!set`, `!!omap`, `!!pairs`).
    Other {
        python: &'static str,
        at: Location,
    },
}

impl Node {
    fn pos(&self) -> Location {
        match self {
            Self::Scalar { at, .. } | Self::Seq { at, .. } | Self::Map { at, .. } => *at,
            Self::Other { at, .. } => *at,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Scalar { ty, .. } => ty.describe().to_owned(),
            Self::Seq { .. } => "a list".to_owned(),
            Self::Map { .. } => "a mapping".to_owned(),
            Self::Other { python, .. } => format!("a {python}"),
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Scalar { value, .. } => value.clone(),
            Self::Seq { .. } => "[...]".to_owned(),
            Self::Map { .. } => "{...}".to_owned(),
            Self::Other { python, .. } => format!("<{python}>"),
        }
    }
}

fn location(marker: &Marker) -> Location {
    Location::Text {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Collection {
    Seq,
    Map,
    Other(&'static str),
}

struct Frame {
    kind: Collection,
    is_map: bool,
    anchor: usize,
    at: Location,
    items: Vec<Rc<Node>>,
    entries: Entries,
    key: Option<Rc<Node>>,
}

/// The full name of a tag: `!!str` is `tag:yaml.org,2002:str`.
fn tag_name(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// `!` alone: the non-specific tag, which makes a scalar a string.
fn is_non_specific(tag: &Tag) -> bool {
    tag.handle == "!" && tag.suffix.is_empty()
}

const CORE: &str = "tag:yaml.org,2002:";

fn scalar_type(
    value: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    at: Location,
) -> Result<ScalarType, MetadataProblem> {
    let Some(tag) = tag else {
        return Ok(match style {
            ScalarStyle::Plain => resolve_plain(value),
            _ => ScalarType::Str,
        });
    };
    if is_non_specific(tag) {
        return Ok(ScalarType::Str);
    }
    let name = tag_name(tag);
    Ok(match name.strip_prefix(CORE) {
        Some("str") => ScalarType::Str,
        Some("int") => ScalarType::Int,
        Some("float") => ScalarType::Float,
        Some("bool") => ScalarType::Bool,
        Some("null") => ScalarType::Null,
        Some("timestamp") => ScalarType::Timestamp,
        Some("binary") => ScalarType::Binary,
        _ => {
            return Err(MetadataProblem::new(
                format!("yaml.safe_load has no constructor for the scalar tag {tag}"),
                Some(at),
            ))
        }
    })
}

fn collection_kind(
    default: Collection,
    tag: Option<&Tag>,
    at: Location,
) -> Result<Collection, MetadataProblem> {
    let Some(tag) = tag else {
        return Ok(default);
    };
    if is_non_specific(tag) {
        return Ok(default);
    }
    let name = tag_name(tag);
    let kind = match (default, name.strip_prefix(CORE)) {
        (Collection::Seq, Some("seq")) => Collection::Seq,
        (Collection::Map, Some("map")) => Collection::Map,
        (Collection::Map, Some("set")) => Collection::Other("set"),
        (Collection::Seq, Some("omap" | "pairs")) => Collection::Other("list of pairs"),
        _ => {
            return Err(MetadataProblem::new(
                format!("yaml.safe_load has no constructor for the tag {tag} here"),
                Some(at),
            ))
        }
    };
    Ok(kind)
}

/// Parses one YAML document into the nodes `yaml.safe_load` would build; `None` for an empty
/// stream.
fn parse_document(text: &str) -> Result<Option<Rc<Node>>, MetadataProblem> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Rc<Node>> = HashMap::new();
    let mut root = None;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            MetadataProblem::new(
                format!("metadata is not valid YAML: {}", e.info()),
                Some(location(e.marker())),
            )
        })?;
        let at = location(&span.start);
        let (node, anchor) = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(MetadataProblem::new(
                        "metadata holds more than one YAML document (yaml.safe_load reads \
                         exactly one)",
                        Some(at),
                    ));
                }
                continue;
            }
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| {
                    MetadataProblem::new(
                        "an alias refers to an anchor that is not complete at that point",
                        Some(at),
                    )
                })?;
                (node, 0)
            }
            Event::Scalar(value, style, anchor, tag) => {
                let ty = scalar_type(&value, style, tag.as_deref(), at)?;
                let node = Node::Scalar {
                    value: value.into_owned(),
                    ty,
                    at,
                };
                (Rc::new(node), anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                let kind = collection_kind(Collection::Seq, tag.as_deref(), at)?;
                stack.push(Frame::new(kind, false, anchor, at));
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                let kind = collection_kind(Collection::Map, tag.as_deref(), at)?;
                stack.push(Frame::new(kind, true, anchor, at));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = stack.pop().expect("the parser balances collections");
                let anchor = frame.anchor;
                (frame.finish()?, anchor)
            }
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => {
                check_not_value_key(&node)?;
                root = Some(node);
            }
            Some(frame) => frame.add(node)?,
        }
    }
    Ok(root)
}

/// `=` is a key for YAML 1.1 `!!value`; as anything but a mapping key `safe_load` fails.
fn check_not_value_key(node: &Node) -> Result<(), MetadataProblem> {
    if let Node::Scalar {
        ty: ScalarType::Value,
        at,
        ..
    } = node
    {
        return Err(MetadataProblem::new(
            "a plain `=` is YAML 1.1's value key, which yaml.safe_load cannot construct \
             outside a mapping key: quote it",
            Some(*at),
        ));
    }
    Ok(())
}

impl Frame {
    fn new(kind: Collection, is_map: bool, anchor: usize, at: Location) -> Self {
        Self {
            kind,
            is_map,
            anchor,
            at,
            items: Vec::new(),
            entries: Vec::new(),
            key: None,
        }
    }

    fn add(&mut self, node: Rc<Node>) -> Result<(), MetadataProblem> {
        if !self.is_map {
            check_not_value_key(&node)?;
            self.items.push(node);
            return Ok(());
        }
        match self.key.take() {
            None => {
                let key = match &*node {
                    Node::Scalar {
                        value,
                        ty: ScalarType::Value,
                        at,
                    } => Rc::new(Node::Scalar {
                        value: value.clone(),
                        ty: ScalarType::Str,
                        at: *at,
                    }),
                    Node::Scalar { .. } => node,
                    other => {
                        return Err(MetadataProblem::new(
                            format!(
                                "a mapping key is {}, which yaml.safe_load cannot use as a key \
                                 (unhashable)",
                                other.describe()
                            ),
                            Some(other.pos()),
                        ))
                    }
                };
                self.key = Some(key);
            }
            Some(key) => {
                check_not_value_key(&node)?;
                self.entries.push((key, node));
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Rc<Node>, MetadataProblem> {
        let at = self.at;
        Ok(Rc::new(match self.kind {
            Collection::Other(python) => Node::Other { python, at },
            Collection::Seq => Node::Seq {
                items: self.items,
                at,
            },
            Collection::Map => Node::Map {
                entries: flatten_merges(self.entries, at)?,
                at,
            },
        }))
    }
}

/// Applies `<<` merge keys as PyYAML's `flatten_mapping` does: merged entries first (from a
/// list of mappings, the first mapping wins), then the mapping's own entries, which win.
fn flatten_merges(entries: Entries, at: Location) -> Result<Entries, MetadataProblem> {
    let mut merged = Vec::new();
    let mut own = Vec::new();
    for (key, value) in entries {
        if !matches!(
            &*key,
            Node::Scalar {
                ty: ScalarType::Merge,
                ..
            }
        ) {
            own.push((key, value));
            continue;
        }
        match &*value {
            Node::Map { entries, .. } => merged.extend(entries.iter().cloned()),
            Node::Seq { items, .. } => {
                let mut maps = Vec::new();
                for item in items {
                    match &**item {
                        Node::Map { entries, .. } => maps.push(entries.clone()),
                        other => {
                            return Err(MetadataProblem::new(
                                format!(
                                    "a merge key (<<) lists {}, not a mapping",
                                    other.describe()
                                ),
                                Some(other.pos()),
                            ))
                        }
                    }
                }
                for map in maps.into_iter().rev() {
                    merged.extend(map);
                }
            }
            other => {
                return Err(MetadataProblem::new(
                    format!(
                        "a merge key (<<) is given {}, not a mapping or list of mappings",
                        other.describe()
                    ),
                    Some(at),
                ))
            }
        }
    }
    merged.extend(own);
    Ok(merged)
}

/// What PyYAML's SafeLoader makes of an unquoted, untagged scalar (YAML 1.1 implicit
/// resolvers, tried in PyYAML's order).
pub fn resolve_plain(value: &str) -> ScalarType {
    let v = value.as_bytes();
    if is_bool(value) {
        ScalarType::Bool
    } else if is_float(v) {
        ScalarType::Float
    } else if is_int(v) {
        ScalarType::Int
    } else if value == "<<" {
        ScalarType::Merge
    } else if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
        ScalarType::Null
    } else if is_timestamp(v) {
        ScalarType::Timestamp
    } else if value == "=" {
        ScalarType::Value
    } else {
        ScalarType::Str
    }
}

fn is_bool(v: &str) -> bool {
    matches!(
        v,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// A cursor for the hand-written equivalents of PyYAML's resolver regexes. Every repetition
/// in them is followed by a character the repetition cannot match, so greedy matching without
/// backtracking gives the regex's answer.
struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(s: &'a [u8]) -> Self {
        Self { s, i: 0 }
    }

    fn end(&self) -> bool {
        self.i == self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn one(&mut self, pred: impl Fn(u8) -> bool) -> bool {
        match self.peek() {
            Some(b) if pred(b) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }

    fn lit(&mut self, text: &str) -> bool {
        if self.s[self.i..].starts_with(text.as_bytes()) {
            self.i += text.len();
            true
        } else {
            false
        }
    }

    fn many(&mut self, pred: impl Fn(u8) -> bool) -> usize {
        let start = self.i;
        while self.one(&pred) {}
        self.i - start
    }

    fn sign(&mut self) {
        self.one(|b| b == b'-' || b == b'+');
    }

    /// `(?::[0-5]?[0-9])+`: how many groups matched.
    fn sexagesimal(&mut self) -> usize {
        let mut groups = 0;
        while self.peek() == Some(b':') {
            let save = self.i;
            self.i += 1;
            let two = matches!(self.peek(), Some(b'0'..=b'5'))
                && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit);
            if two {
                self.i += 2;
            } else if !self.one(digit) {
                self.i = save;
                break;
            }
            groups += 1;
        }
        groups
    }

    /// `(?:[eE][-+][0-9]+)?`
    fn exponent(&mut self) {
        let save = self.i;
        if self.one(|b| b == b'e' || b == b'E')
            && self.one(|b| b == b'-' || b == b'+')
            && self.many(digit) > 0
        {
            return;
        }
        self.i = save;
    }
}

fn digit(b: u8) -> bool {
    b.is_ascii_digit()
}

fn digit_(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

fn is_int(v: &[u8]) -> bool {
    let binary = {
        let mut c = Cur::new(v);
        c.sign();
        c.lit("0b") && c.many(|b| b == b'0' || b == b'1' || b == b'_') > 0 && c.end()
    };
    let octal = {
        let mut c = Cur::new(v);
        c.sign();
        c.lit("0") && c.many(|b| (b'0'..=b'7').contains(&b) || b == b'_') > 0 && c.end()
    };
    let decimal = {
        let mut c = Cur::new(v);
        c.sign();
        if c.lit("0") {
            c.end()
        } else {
            c.one(|b| (b'1'..=b'9').contains(&b)) && {
                c.many(digit_);
                c.end()
            }
        }
    };
    let hex = {
        let mut c = Cur::new(v);
        c.sign();
        c.lit("0x") && c.many(|b| b.is_ascii_hexdigit() || b == b'_') > 0 && c.end()
    };
    let sexagesimal = {
        let mut c = Cur::new(v);
        c.sign();
        c.one(|b| (b'1'..=b'9').contains(&b)) && {
            c.many(digit_);
            c.sexagesimal() > 0 && c.end()
        }
    };
    binary || octal || decimal || hex || sexagesimal
}

fn is_float(v: &[u8]) -> bool {
    let fixed = {
        let mut c = Cur::new(v);
        c.sign();
        c.one(digit) && {
            c.many(digit_);
            c.lit(".") && {
                c.many(digit_);
                c.exponent();
                c.end()
            }
        }
    };
    let leading_dot = {
        let mut c = Cur::new(v);
        c.lit(".") && c.one(digit) && {
            c.many(digit_);
            c.exponent();
            c.end()
        }
    };
    let sexagesimal = {
        let mut c = Cur::new(v);
        c.sign();
        c.one(digit) && {
            c.many(digit_);
            c.sexagesimal() > 0 && c.lit(".") && {
                c.many(digit_);
                c.end()
            }
        }
    };
    let inf = {
        let mut c = Cur::new(v);
        c.sign();
        c.lit(".") && (c.lit("inf") || c.lit("Inf") || c.lit("INF")) && c.end()
    };
    let nan = matches!(v, b".nan" | b".NaN" | b".NAN");
    fixed || leading_dot || sexagesimal || inf || nan
}

fn is_timestamp(v: &[u8]) -> bool {
    let four_digits = |c: &mut Cur<'_>| (0..4).all(|_| c.one(digit));
    let date = {
        let mut c = Cur::new(v);
        four_digits(&mut c)
            && c.lit("-")
            && c.one(digit)
            && c.one(digit)
            && c.lit("-")
            && c.one(digit)
            && c.one(digit)
            && c.end()
    };
    let datetime = {
        let mut c = Cur::new(v);
        let one_or_two = |c: &mut Cur<'_>| {
            let ok = c.one(digit);
            c.one(digit);
            ok
        };
        let blank = |b: u8| b == b' ' || b == b'\t';
        four_digits(&mut c)
            && c.lit("-")
            && one_or_two(&mut c)
            && c.lit("-")
            && one_or_two(&mut c)
            && (c.one(|b| b == b'T' || b == b't') || c.many(blank) > 0)
            && one_or_two(&mut c)
            && c.lit(":")
            && c.one(digit)
            && c.one(digit)
            && c.lit(":")
            && c.one(digit)
            && c.one(digit)
            && {
                if c.lit(".") {
                    c.many(digit);
                }
                let save = c.i;
                c.many(blank);
                if c.lit("Z") {
                } else if c.one(|b| b == b'-' || b == b'+') && one_or_two(&mut c) {
                    let before_minutes = c.i;
                    if !(c.lit(":") && c.one(digit) && c.one(digit)) {
                        c.i = before_minutes;
                    }
                } else {
                    c.i = save;
                }
                c.end()
            }
    };
    date || datetime
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected types were taken from PyYAML 6 `yaml.safe_load` (see the module docs).
    #[test]
    fn plain_scalars_resolve_like_pyyaml() {
        use ScalarType::*;
        let cases: &[(&str, ScalarType)] = &[
            ("interop", Str),
            ("123", Int),
            ("-0", Int),
            ("0777", Int),
            ("0b101", Int),
            ("0x1F", Int),
            ("1_000", Int),
            ("190:20:30", Int),
            ("1:60", Str),
            ("08", Str),
            ("0o17", Str),
            ("1.5", Float),
            ("1.", Float),
            ("-.5e+3", Str),
            (".5e+3", Float),
            ("1e5", Str),
            ("1.0e5", Str),
            ("1.0e+5", Float),
            ("190:20:30.15", Float),
            (".inf", Float),
            ("-.Inf", Float),
            (".NaN", Float),
            ("true", Bool),
            ("yes", Bool),
            ("Off", Bool),
            ("y", Str),
            ("tRue", Str),
            ("null", Null),
            ("~", Null),
            ("", Null),
            ("nil", Str),
            ("2024-01-01", Timestamp),
            ("2024-1-1", Str),
            ("2024-1-1 1:02:03", Timestamp),
            ("2024-01-01T10:00:00.5Z", Timestamp),
            ("2024-01-01t10:00:00 +05:30", Timestamp),
            ("2024-01-01 10:00:00 +5", Timestamp),
            ("2024-01-01 10:00:00 +05:", Str),
            ("2024-01-01T10:00", Str),
            ("<<", Merge),
            ("=", Value),
            ("2026-06-16", Timestamp),
            ("etl.daily-v2", Str),
        ];
        for (text, expected) in cases {
            assert_eq!(resolve_plain(text), *expected, "{text:?}");
        }
    }

    fn problem(yaml: &str) -> String {
        check(yaml.as_bytes()).unwrap_err().to_string()
    }

    const GOOD: &str = "sdk:\n  supervisor_schema_version: \"2026-06-16\"\ndags:\n  etl:\n    tasks:\n      - \"a\"\n      - b\n";

    #[test]
    fn accepts_what_airflow_accepts() {
        let summary = check(GOOD.as_bytes()).unwrap();
        assert_eq!(summary.dags.get("etl"), Some(&Some(2)));
        assert_eq!(summary.supervisor_schema_version, "2026-06-16");
        // Go's packer writes plain keys and flow style is YAML too.
        let flow = "{sdk: {supervisor_schema_version: '2026-06-16'}, dags: {etl: {}, 'x': null}}";
        let summary = check(flow.as_bytes()).unwrap();
        assert_eq!(summary.dags.len(), 2);
        assert_eq!(summary.dags["etl"], None);
        // Anchors, aliases and merge keys work as in PyYAML; later keys win.
        let merged = "base: &b {supervisor_schema_version: '2026-06-16'}\nsdk:\n  <<: *b\n  language: rust\ndags: {a: 1, a: 2}\nsource: old\nsource: new\n";
        let summary = check(merged.as_bytes()).unwrap();
        assert_eq!(summary.sdk_language.as_deref(), Some("rust"));
        assert_eq!(summary.source.as_deref(), Some("new"));
        assert_eq!(summary.dags.len(), 1);
        let value_key = "sdk: {supervisor_schema_version: '2026-06-16'}\ndags: {=: 1}\n";
        assert!(check(value_key.as_bytes()).unwrap().dags.contains_key("="));
    }

    #[test]
    fn refuses_what_airflow_skips_or_rejects() {
        for (yaml, expected) in [
            ("", "empty"),
            ("- a\n- b\n", "is a list, not a mapping"),
            ("just text", "is a string, not a mapping"),
            ("a: [1, 2\n", "not valid YAML"),
            ("a: 'unterminated\n", "not valid YAML"),
            ("a:\tb: c\n", "not valid YAML"),
            ("a: 1\n---\nb: 2\n", "more than one YAML document"),
            ("a: \"\u{7}\"\n", "U+0007"),
            ("a: \"\u{85}\u{7f}\"\n", "U+007F"),
            ("sdk: {}\n", "no `dags` key"),
            ("dags: []\n", "`dags` is a list, not a mapping"),
            ("dags: {}\n", "lists no DAG"),
            (
                "dags: {123: x}\n",
                "DAG id `123` is read by yaml.safe_load as an integer",
            ),
            ("dags: {true: x}\n", "as a boolean"),
            ("dags: {2024-01-01: x}\n", "as a date/timestamp"),
            ("dags: {~: x}\n", "as null"),
            ("dags: {!!int '7': x}\n", "as an integer"),
            ("dags: {a: x}\n", "no `sdk` key"),
            (
                "dags: {a: x}\nsdk: 1\n",
                "`sdk` is an integer, not a mapping",
            ),
            ("dags: {a: x}\nsdk: {}\n", "no `supervisor_schema_version`"),
            (
                "dags: {a: x}\nsdk: {supervisor_schema_version: ''}\n",
                "is empty",
            ),
            (
                "dags: {a: x}\nsdk: {supervisor_schema_version: 2026-06-16}\n",
                "`2026-06-16` is read by yaml.safe_load as a date/timestamp",
            ),
            (
                "dags: {a: x}\nsdk: {supervisor_schema_version: '2026-10-30'}\n",
                "\"2026-10-30\" is not one Airflow 1.3.2 accepts (2026-06-16)",
            ),
            ("? [a]\n: b\n", "unhashable"),
            (
                "a: !custom x\n",
                "no constructor for the scalar tag !custom",
            ),
            ("a: =\n", "value key"),
            ("a: *nothing\n", "not valid YAML"),
            ("a: {<<: 1}\n", "merge key"),
        ] {
            let message = problem(yaml);
            assert!(message.contains(expected), "{yaml:?}: {message}");
        }
        let not_utf8 = check(b"dags:\n  \xff: x\n").unwrap_err();
        assert_eq!(not_utf8.at, Some(Location::Byte(8)));
        assert!(not_utf8.what.contains("not UTF-8"));
    }

    #[test]
    fn problems_say_where() {
        let p = check(
            b"sdk:\n  supervisor_schema_version: \"2026-06-16\"\ndags:\n  \"ok\": {}\n  123: {}\n",
        )
        .unwrap_err();
        assert_eq!(p.at, Some(Location::Text { line: 5, column: 3 }), "{p}");
        assert!(
            p.to_string().ends_with("(at metadata line 5, column 3)"),
            "{p}"
        );
        let p = check(b"a: [1,\n  2\n").unwrap_err();
        assert!(matches!(p.at, Some(Location::Text { .. })), "{p}");
    }
}
