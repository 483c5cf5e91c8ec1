//! The regular expressions of `builtins.match` and `builtins.split`.
//!
//! Nix hands these patterns to C++'s `std::regex` (POSIX extended grammar),
//! and what users see is that engine's behaviour, which neither a
//! leftmost-first engine (the `regex` crate) nor a textbook POSIX
//! leftmost-longest one reproduces. This module implements the behaviour as
//! observed from `nix-instantiate` and written down in `spec/eval.md`
//! ("Regular expressions"); `tests/differential.rs` checks it against Nix.
//! In short:
//!
//! - patterns and subjects are bytes; `.` and `[^…]` match any byte,
//!   newlines included; classes follow the "C" locale;
//! - the matcher backtracks depth first, trying every branch of `|`, and a
//!   candidate match replaces the current one only when it ends strictly
//!   later (so the longest wins, the first found on a tie);
//! - a greedy repetition whose "one more iteration" found any match never
//!   tries stopping there; an iteration may start twice in a row at the
//!   same position, not a third time;
//! - `split` steps through the subject the way C++'s `regex_iterator` does.
//!
//! Backtracking state lives on a heap stack, so long subjects cannot
//! overflow the native stack.

use std::fmt;

/// Nix's regex engine refuses patterns whose automaton would exceed this
/// many states ("memory limit exceeded by regular expression").
const STATE_LIMIT: u64 = 100_000;

/// Groups nested deeper than this are refused rather than risking the
/// native stack in the recursive parser and compiler.
const MAX_NESTING: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegexError {
    Invalid(&'static str),
    TooBig,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegexError::Invalid(why) => write!(f, "{why}"),
            RegexError::TooBig => {
                write!(f, "the pattern expands to more than {STATE_LIMIT} states")
            }
        }
    }
}

/// What a match may spend: one unit per backtracking frame. Backtracking
/// can take exponentially many steps in the subject's length (`(a*)*b`
/// against a run of `a`s), so every search is bounded; a search that runs
/// out stops with [`OutOfFuel`].
pub(crate) struct Fuel {
    given: u64,
    left: u64,
}

/// A search ran out of [`Fuel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfFuel;

impl Fuel {
    pub(crate) fn new(steps: u64) -> Fuel {
        Fuel {
            given: steps,
            left: steps,
        }
    }

    /// The steps taken so far.
    pub(crate) fn spent(&self) -> u64 {
        self.given - self.left
    }

    fn burn(&mut self) -> Result<(), OutOfFuel> {
        self.left = self.left.checked_sub(1).ok_or(OutOfFuel)?;
        Ok(())
    }
}

/// A set of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }
    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
    fn union(&mut self, other: &ByteSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }
    fn negate(&mut self) {
        for a in &mut self.0 {
            *a = !*a;
        }
    }
    fn all() -> ByteSet {
        ByteSet([u64::MAX; 4])
    }
    fn from_fn(f: impl Fn(u8) -> bool) -> ByteSet {
        let mut s = ByteSet::default();
        for b in 0..=255u8 {
            if f(b) {
                s.insert(b);
            }
        }
        s
    }
}

/// How a repetition was written; it decides the shape of the compiled
/// program (and its size, which is what the state limit counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantifier {
    Star,
    Plus,
    Optional,
    /// `{m}`, `{m,}`, `{m,n}`: `min` copies, then `optional` nested
    /// optional copies (`None`: then any number, as `*`).
    Count {
        min: u32,
        optional: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Empty,
    Byte(u8),
    Any,
    Set(Box<ByteSet>),
    LineStart,
    LineEnd,
    Group(u32, Box<Node>),
    Concat(Vec<Node>),
    Alternation(Vec<Node>),
    Repeat(Box<Node>, Quantifier),
}

impl Node {
    /// The number of automaton states Nix's engine builds for this node,
    /// saturating: as first built, and as a copy made for a counted
    /// repetition (a copy leaves out the unused originals of the counted
    /// repetitions inside it). Calibrated against where `nix-instantiate`
    /// starts to refuse patterns (see the spec and the unit tests).
    fn states(&self) -> (u64, u64) {
        let sum = |nodes: &[Node], extra: u64| {
            nodes.iter().fold((extra, extra), |(f, c), n| {
                let (nf, nc) = n.states();
                (f.saturating_add(nf), c.saturating_add(nc))
            })
        };
        let plus =
            |(f, c): (u64, u64), extra: u64| (f.saturating_add(extra), c.saturating_add(extra));
        match self {
            Node::Empty => (0, 0),
            Node::Byte(_) | Node::Any | Node::Set(_) | Node::LineStart | Node::LineEnd => (1, 1),
            Node::Group(_, inner) => plus(inner.states(), 3),
            Node::Concat(items) => sum(items, 0),
            Node::Alternation(branches) => sum(branches, 3 * (branches.len() as u64 - 1)),
            Node::Repeat(inner, q) => match *q {
                Quantifier::Star | Quantifier::Plus => plus(inner.states(), 1),
                Quantifier::Optional => plus(inner.states(), 2),
                Quantifier::Count { min, optional } => {
                    let (original, copy) = inner.states();
                    let copies = match optional {
                        Some(n) => copy
                            .saturating_mul(u64::from(min))
                            .saturating_add(copy.saturating_add(1).saturating_mul(n))
                            .saturating_add(2),
                        None => copy.saturating_mul(u64::from(min) + 1).saturating_add(2),
                    };
                    (original.saturating_add(copies), copies)
                }
            },
        }
    }

    /// Appends the bytes every match of this node starts with; true when
    /// the node is nothing but those bytes (so what follows it extends
    /// the prefix).
    fn literal_prefix(&self, out: &mut Vec<u8>) -> bool {
        match self {
            Node::Empty => true,
            Node::Byte(b) => {
                out.push(*b);
                true
            }
            Node::Group(_, inner) => inner.literal_prefix(out),
            Node::Concat(items) => items.iter().all(|item| item.literal_prefix(out)),
            _ => false,
        }
    }

    /// The bytes a non-empty match can start with, and whether the node can
    /// match without consuming anything (anchors count as such).
    fn first_bytes(&self) -> (ByteSet, bool) {
        match self {
            Node::Empty | Node::LineStart | Node::LineEnd => (ByteSet::default(), true),
            Node::Byte(b) => {
                let mut s = ByteSet::default();
                s.insert(*b);
                (s, false)
            }
            Node::Any => (ByteSet::all(), false),
            Node::Set(s) => (**s, false),
            Node::Group(_, inner) => inner.first_bytes(),
            Node::Concat(items) => {
                let mut set = ByteSet::default();
                for item in items {
                    let (s, nullable) = item.first_bytes();
                    set.union(&s);
                    if !nullable {
                        return (set, false);
                    }
                }
                (set, true)
            }
            Node::Alternation(branches) => {
                let mut set = ByteSet::default();
                let mut nullable = false;
                for b in branches {
                    let (s, n) = b.first_bytes();
                    set.union(&s);
                    nullable |= n;
                }
                (set, nullable)
            }
            Node::Repeat(inner, q) => {
                let (s, nullable) = inner.first_bytes();
                let optional = match q {
                    Quantifier::Star | Quantifier::Optional => true,
                    Quantifier::Plus => false,
                    Quantifier::Count { min, .. } => *min == 0,
                };
                (s, nullable || optional)
            }
        }
    }
}

// ---------------------------------------------------------------- parsing

struct Parser<'p> {
    pattern: &'p [u8],
    at: usize,
    groups: u32,
    depth: usize,
}

fn invalid<T>(why: &'static str) -> Result<T, RegexError> {
    Err(RegexError::Invalid(why))
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.pattern.get(self.at).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.pattern.get(self.at + offset).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn alternation(&mut self) -> Result<Node, RegexError> {
        let mut branches = vec![self.concatenation()?];
        while self.eat(b'|') {
            branches.push(self.concatenation()?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alternation(branches)
        })
    }

    fn concatenation(&mut self) -> Result<Node, RegexError> {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'|') => break,
                Some(b')') if self.depth > 0 => break,
                Some(b')') => return invalid("unmatched `)`"),
                Some(_) => items.push(self.term()?),
            }
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    fn term(&mut self) -> Result<Node, RegexError> {
        let c = self.pattern[self.at];
        self.at += 1;
        let atom = match c {
            b'^' | b'$' => {
                if matches!(self.peek(), Some(b'*' | b'+' | b'?' | b'{')) {
                    return invalid("an anchor (`^` or `$`) cannot be repeated");
                }
                return Ok(if c == b'^' {
                    Node::LineStart
                } else {
                    Node::LineEnd
                });
            }
            b'*' | b'+' | b'?' | b'{' => {
                return invalid("a repetition (`*`, `+`, `?`, `{`) with nothing before it to repeat");
            }
            b'(' => {
                if self.depth >= MAX_NESTING {
                    return invalid("groups nested too deeply");
                }
                self.groups += 1;
                let index = self.groups;
                self.depth += 1;
                let inner = self.alternation()?;
                self.depth -= 1;
                if !self.eat(b')') {
                    return invalid("unclosed `(`");
                }
                Node::Group(index, Box::new(inner))
            }
            b'.' => Node::Any,
            b'[' => Node::Set(Box::new(self.bracket()?)),
            b'\\' => match self.peek() {
                Some(e @ (b'.' | b'[' | b'\\' | b'(' | b')' | b'*' | b'+' | b'?' | b'{' | b'|' | b'^' | b'$')) => {
                    self.at += 1;
                    Node::Byte(e)
                }
                Some(_) => {
                    return invalid(
                        "only `.[\\()*+?{|^$` can be escaped with `\\` in a POSIX extended expression (no `\\d`, `\\w`, `\\n`...; use `[[:digit:]]`, `[[:alnum:]_]`, a literal character)",
                    )
                }
                None => return invalid("a trailing `\\` escapes nothing"),
            },
            other => Node::Byte(other),
        };
        self.quantified(atom)
    }

    fn quantified(&mut self, mut atom: Node) -> Result<Node, RegexError> {
        loop {
            let q = match self.peek() {
                Some(b'*') => Quantifier::Star,
                Some(b'+') => Quantifier::Plus,
                Some(b'?') => Quantifier::Optional,
                Some(b'{') => {
                    self.at += 1;
                    self.interval()?
                }
                _ => return Ok(atom),
            };
            if !matches!(q, Quantifier::Count { .. }) {
                self.at += 1;
            }
            atom = Node::Repeat(Box::new(atom), q);
        }
    }

    /// `{m}`, `{m,}` or `{m,n}`, after the `{`. Counts are read as C `int`s
    /// that wrap, as in Nix: `max(m, 0)` copies are required, and `n - m`
    /// (of the wrapped values) optional.
    fn interval(&mut self) -> Result<Quantifier, RegexError> {
        const BAD: &str = "a `{` must start a repetition count: `{m}`, `{m,}` or `{m,n}` (write `\\{` for a literal brace)";
        let min = self.number().ok_or(RegexError::Invalid(BAD))?;
        let max = if self.eat(b',') {
            self.number()
        } else {
            Some(min)
        };
        if !self.eat(b'}') {
            return invalid(BAD);
        }
        if let Some(max) = max {
            if max < min {
                return invalid("a repetition count `{m,n}` needs m <= n");
            }
        }
        Ok(Quantifier::Count {
            min: u32::try_from(min).unwrap_or(0),
            optional: max.map(|max| (i64::from(max) - i64::from(min)).unsigned_abs()),
        })
    }

    fn number(&mut self) -> Option<i32> {
        let start = self.at;
        let mut n: i32 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.wrapping_mul(10).wrapping_add(i32::from(d - b'0'));
            self.at += 1;
        }
        (self.at > start).then_some(n)
    }

    /// A bracket expression, after the `[`.
    fn bracket(&mut self) -> Result<ByteSet, RegexError> {
        const UNCLOSED: &str = "unclosed `[`";
        let negated = self.eat(b'^');
        let mut set = ByteSet::default();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return invalid(UNCLOSED);
            };
            if c == b']' && !first {
                self.at += 1;
                break;
            }
            first = false;
            let item = self.bracket_item()?;
            let dash_range =
                self.peek() == Some(b'-') && !matches!(self.peek_at(1), Some(b']') | None);
            match item {
                BracketItem::Byte(lo) if dash_range => {
                    self.at += 1;
                    if self.peek() == Some(b'[')
                        && matches!(self.peek_at(1), Some(b':' | b'.' | b'='))
                    {
                        return invalid("a range must end in a single character");
                    }
                    let hi = self.pattern[self.at];
                    self.at += 1;
                    // Nix compares range ends as signed `char`s.
                    let (lo, hi) = (lo as i8, hi as i8);
                    if lo > hi {
                        return invalid(
                            "a range `[x-y]` needs x <= y (bytes above 0x7f sort first)",
                        );
                    }
                    for b in lo..=hi {
                        set.insert(b as u8);
                    }
                    if self.peek() == Some(b'-') && !matches!(self.peek_at(1), Some(b']') | None) {
                        return invalid("a range cannot start where another ends");
                    }
                }
                BracketItem::Set(_) if dash_range => {
                    return invalid("a character class cannot start a range")
                }
                BracketItem::Byte(b) => set.insert(b),
                BracketItem::Set(s) => set.union(&s),
            }
        }
        if negated {
            set.negate();
        }
        Ok(set)
    }

    fn bracket_item(&mut self) -> Result<BracketItem, RegexError> {
        let c = self.pattern[self.at];
        self.at += 1;
        if c != b'[' {
            return Ok(BracketItem::Byte(c));
        }
        let kind = match self.peek() {
            Some(k @ (b':' | b'.' | b'=')) => k,
            _ => return Ok(BracketItem::Byte(b'[')),
        };
        self.at += 1;
        let start = self.at;
        let end = loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(k), Some(b']')) if k == kind => break self.at,
                (Some(_), _) => self.at += 1,
                (None, _) => return invalid("unclosed `[:`, `[.` or `[=` in a bracket expression"),
            }
        };
        self.at += 2;
        let name = &self.pattern[start..end];
        match kind {
            b':' => class(name)
                .map(BracketItem::Set)
                .ok_or(RegexError::Invalid("unknown character class (alnum alpha blank cntrl digit graph lower print punct space upper xdigit)")),
            b'.' => collating_element(name)
                .map(BracketItem::Byte)
                .ok_or(RegexError::Invalid("unknown collating element (a letter or a POSIX name such as `hyphen`)")),
            _ => {
                let b = collating_element(name).ok_or(RegexError::Invalid(
                    "unknown equivalence class (a letter or a POSIX name such as `hyphen`)",
                ))?;
                let mut s = ByteSet::default();
                s.insert(b);
                if b.is_ascii_alphabetic() {
                    s.insert(b ^ 0x20);
                }
                Ok(BracketItem::Set(s))
            }
        }
    }
}

enum BracketItem {
    Byte(u8),
    Set(ByteSet),
}

/// `[:name:]`, in the "C" locale; names are matched without regard to case.
fn class(name: &[u8]) -> Option<ByteSet> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let test: fn(u8) -> bool = match name.as_str() {
        "alnum" => |b| b.is_ascii_alphanumeric(),
        "alpha" => |b| b.is_ascii_alphabetic(),
        "blank" => |b| b == b' ' || b == b'\t',
        "cntrl" => |b| b.is_ascii_control(),
        "digit" | "d" => |b| b.is_ascii_digit(),
        "graph" => |b| b.is_ascii_graphic(),
        "lower" => |b| b.is_ascii_lowercase(),
        "print" => |b| b.is_ascii_graphic() || b == b' ',
        "punct" => |b| b.is_ascii_punctuation(),
        "space" | "s" => |b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        "upper" => |b| b.is_ascii_uppercase(),
        "xdigit" => |b| b.is_ascii_hexdigit(),
        "w" => |b| b.is_ascii_alphanumeric() || b == b'_',
        _ => return None,
    };
    Some(ByteSet::from_fn(test))
}

/// POSIX's names for the characters of the portable character set (the
/// byte is the index); letters are their own names.
const COLLATING_NAMES: [&str; 128] = [
    "NUL",
    "SOH",
    "STX",
    "ETX",
    "EOT",
    "ENQ",
    "ACK",
    "alert",
    "backspace",
    "tab",
    "newline",
    "vertical-tab",
    "form-feed",
    "carriage-return",
    "SO",
    "SI",
    "DLE",
    "DC1",
    "DC2",
    "DC3",
    "DC4",
    "NAK",
    "SYN",
    "ETB",
    "CAN",
    "EM",
    "SUB",
    "ESC",
    "IS4",
    "IS3",
    "IS2",
    "IS1",
    "space",
    "exclamation-mark",
    "quotation-mark",
    "number-sign",
    "dollar-sign",
    "percent-sign",
    "ampersand",
    "apostrophe",
    "left-parenthesis",
    "right-parenthesis",
    "asterisk",
    "plus-sign",
    "comma",
    "hyphen",
    "period",
    "slash",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "colon",
    "semicolon",
    "less-than-sign",
    "equals-sign",
    "greater-than-sign",
    "question-mark",
    "commercial-at",
    "A",
    "B",
    "C",
    "D",
    "E",
    "F",
    "G",
    "H",
    "I",
    "J",
    "K",
    "L",
    "M",
    "N",
    "O",
    "P",
    "Q",
    "R",
    "S",
    "T",
    "U",
    "V",
    "W",
    "X",
    "Y",
    "Z",
    "left-square-bracket",
    "backslash",
    "right-square-bracket",
    "circumflex",
    "underscore",
    "grave-accent",
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "k",
    "l",
    "m",
    "n",
    "o",
    "p",
    "q",
    "r",
    "s",
    "t",
    "u",
    "v",
    "w",
    "x",
    "y",
    "z",
    "left-curly-bracket",
    "vertical-line",
    "right-curly-bracket",
    "tilde",
    "DEL",
];

fn collating_element(name: &[u8]) -> Option<u8> {
    COLLATING_NAMES
        .iter()
        .position(|n| n.as_bytes() == name)
        .and_then(|i| u8::try_from(i).ok())
}

// -------------------------------------------------------------- compiling

#[derive(Debug, Clone)]
enum Inst {
    Byte(u8, usize),
    Any(usize),
    Set(ByteSet, usize),
    LineStart(usize),
    LineEnd(usize),
    Open(u32, usize),
    Close(u32, usize),
    /// Every branch is explored, in order.
    Branch(Box<[usize]>),
    /// A greedy repetition point: one more iteration (`body`), or, if that
    /// found no match at all, `next`. `id` indexes its iteration guard.
    Repeat {
        id: u32,
        body: usize,
        next: usize,
    },
    Accept,
}

struct Compiler {
    program: Vec<Inst>,
    repeats: u32,
}

impl Compiler {
    fn push(&mut self, inst: Inst) -> usize {
        self.program.push(inst);
        self.program.len() - 1
    }

    fn repeat(&mut self, next: usize) -> usize {
        let id = self.repeats;
        self.repeats += 1;
        self.push(Inst::Repeat {
            id,
            body: usize::MAX,
            next,
        })
    }

    fn set_body(&mut self, at: usize, entry: usize) {
        if let Inst::Repeat { body, .. } = &mut self.program[at] {
            *body = entry;
        }
    }

    /// Emits `node` followed by `next`; returns the node's entry point.
    /// Every copy of a repeated node is emitted anew (its own repetition
    /// guards), as the engine Nix uses clones it.
    fn emit(&mut self, node: &Node, next: usize) -> usize {
        match node {
            Node::Empty => next,
            Node::Byte(b) => self.push(Inst::Byte(*b, next)),
            Node::Any => self.push(Inst::Any(next)),
            Node::Set(s) => self.push(Inst::Set(**s, next)),
            Node::LineStart => self.push(Inst::LineStart(next)),
            Node::LineEnd => self.push(Inst::LineEnd(next)),
            Node::Group(i, inner) => {
                let close = self.push(Inst::Close(*i, next));
                let body = self.emit(inner, close);
                self.push(Inst::Open(*i, body))
            }
            Node::Concat(items) => items
                .iter()
                .rev()
                .fold(next, |next, item| self.emit(item, next)),
            Node::Alternation(branches) => {
                let entries: Box<[usize]> = branches.iter().map(|b| self.emit(b, next)).collect();
                self.push(Inst::Branch(entries))
            }
            Node::Repeat(inner, q) => match *q {
                Quantifier::Star => self.star(inner, next),
                // The first iteration is entered directly, the loop after it.
                Quantifier::Plus => {
                    let r = self.repeat(next);
                    let body = self.emit(inner, r);
                    self.set_body(r, body);
                    body
                }
                Quantifier::Optional => self.optional(inner, next, next),
                Quantifier::Count { min, optional } => {
                    let mut entry = match optional {
                        None => self.star(inner, next),
                        // Optional copies nest: skipping any of them skips
                        // the rest too.
                        Some(n) => {
                            let mut entry = next;
                            for _ in 0..n {
                                entry = self.optional(inner, entry, next);
                            }
                            entry
                        }
                    };
                    for _ in 0..min {
                        entry = self.emit(inner, entry);
                    }
                    entry
                }
            },
        }
    }

    fn star(&mut self, inner: &Node, next: usize) -> usize {
        let r = self.repeat(next);
        let body = self.emit(inner, r);
        self.set_body(r, body);
        r
    }

    /// One optional copy of `inner` continuing at `then`; skipping it goes
    /// to `skip`.
    fn optional(&mut self, inner: &Node, then: usize, skip: usize) -> usize {
        let r = self.repeat(skip);
        let body = self.emit(inner, then);
        self.set_body(r, body);
        r
    }
}

// -------------------------------------------------------------- matching

/// A compiled pattern.
#[derive(Debug)]
pub(crate) struct Regex {
    program: Vec<Inst>,
    start: usize,
    groups: u32,
    repeats: u32,
    /// The bytes a match can start with, when the pattern cannot match
    /// the empty string (lets a search skip hopeless positions).
    first: Option<ByteSet>,
    /// The bytes every match starts with (`Wone` in `Wone.*`): a subject
    /// that does not start with them is no match for `builtins.match`,
    /// decided without running the engine.
    prefix: Vec<u8>,
    /// When the pattern is nothing but a non-empty run of bytes, without
    /// groups (`" "`, `"\\."`, `"::"`): its matches are that run's
    /// occurrences, found with a substring search instead of the engine.
    literal: Option<memchr::memmem::Finder<'static>>,
}

/// A match: its span and its groups' spans (`None`: did not take part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Match {
    pub start: usize,
    pub end: usize,
    pub groups: Vec<Option<(usize, usize)>>,
}

impl Match {
    /// A match of a pattern without groups.
    fn plain(start: usize, end: usize) -> Match {
        Match {
            start,
            end,
            groups: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Capture {
    start: usize,
    end: usize,
    matched: bool,
}

enum Frame {
    Run(usize, usize),
    RestoreStart(u32, usize),
    RestoreCapture(u32, Capture),
    /// After branch `next - 1` of the `Branch` at `inst`: `found` so far.
    NextBranch {
        inst: usize,
        next: usize,
        pos: usize,
        found: bool,
    },
    /// After trying one more iteration: stop here unless that found a match.
    Exit {
        next: usize,
        pos: usize,
    },
    RestoreGuard(u32, Guard),
}

/// Where the last iteration of a repetition started, and how many times in
/// a row it started there.
#[derive(Debug, Clone, Copy, Default)]
struct Guard {
    pos: usize,
    count: u8,
}

#[derive(Clone, Copy)]
struct Mode {
    /// The match must end at the end of the subject (`builtins.match`).
    whole: bool,
    /// An empty match does not count.
    not_empty: bool,
}

struct Search<'r, 's, 'f> {
    regex: &'r Regex,
    subject: &'s [u8],
    fuel: &'f mut Fuel,
    begin: usize,
    mode: Mode,
    captures: Vec<Capture>,
    guards: Vec<Guard>,
    stack: Vec<Frame>,
    found: bool,
    best: Option<(usize, Vec<Capture>)>,
}

impl Regex {
    pub(crate) fn new(pattern: &str) -> Result<Regex, RegexError> {
        let mut parser = Parser {
            pattern: pattern.as_bytes(),
            at: 0,
            groups: 0,
            depth: 0,
        };
        let node = parser.alternation()?;
        if parser.at != parser.pattern.len() {
            return invalid("unmatched `)`");
        }
        // The engine's own start, end and bookkeeping states.
        if node.states().0.saturating_add(4) > STATE_LIMIT {
            return Err(RegexError::TooBig);
        }
        let (first, nullable) = node.first_bytes();
        let mut prefix = Vec::new();
        let all_literal = node.literal_prefix(&mut prefix);
        let literal = (all_literal && parser.groups == 0 && !prefix.is_empty())
            .then(|| memchr::memmem::Finder::new(&prefix).into_owned());
        let mut compiler = Compiler {
            program: vec![Inst::Accept],
            repeats: 0,
        };
        let start = compiler.emit(&node, 0);
        Ok(Regex {
            program: compiler.program,
            start,
            groups: parser.groups,
            repeats: compiler.repeats,
            first: (!nullable).then_some(first),
            prefix,
            literal,
        })
    }

    /// `builtins.match`: the whole subject must match.
    pub(crate) fn match_whole(
        &self,
        subject: &[u8],
        fuel: &mut Fuel,
    ) -> Result<Option<Match>, OutOfFuel> {
        if !subject.starts_with(&self.prefix) {
            return Ok(None);
        }
        if self.literal.is_some() {
            return Ok((subject.len() == self.prefix.len()).then(|| Match::plain(0, subject.len())));
        }
        let mode = Mode {
            whole: true,
            not_empty: false,
        };
        Search::new(self, subject, mode, fuel).attempt(0)
    }

    /// `builtins.split`: the matches C++'s `regex_iterator` visits.
    pub(crate) fn matches<'r, 's, 'f>(
        &'r self,
        subject: &'s [u8],
        fuel: &'f mut Fuel,
    ) -> Matches<'r, 's, 'f> {
        Matches {
            regex: self,
            subject,
            fuel,
            last: None,
        }
    }

    /// The first match starting at or after `from`; with `anchored`, only
    /// one starting exactly at `from`.
    fn search(
        &self,
        subject: &[u8],
        from: usize,
        anchored: bool,
        not_empty: bool,
        fuel: &mut Fuel,
    ) -> Result<Option<Match>, OutOfFuel> {
        if let Some(literal) = &self.literal {
            // A non-empty literal: every match is non-empty, and the
            // leftmost one is its first occurrence.
            let rest = subject.get(from..).unwrap_or_default();
            let at = if anchored {
                rest.starts_with(&self.prefix).then_some(0)
            } else {
                literal.find(rest)
            };
            return Ok(at.map(|at| Match::plain(from + at, from + at + self.prefix.len())));
        }
        let mode = Mode {
            whole: false,
            not_empty,
        };
        // One set of buffers for every start position.
        let mut search = Search::new(self, subject, mode, fuel);
        if anchored {
            return search.attempt(from);
        }
        for begin in from..=subject.len() {
            if let (Some(first), Some(&b)) = (&self.first, subject.get(begin)) {
                if !first.contains(b) {
                    continue;
                }
            } else if self.first.is_some() {
                // At the end a non-empty match is impossible.
                continue;
            }
            if let Some(m) = search.attempt(begin)? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }
}

impl<'r, 's, 'f> Search<'r, 's, 'f> {
    fn new(regex: &'r Regex, subject: &'s [u8], mode: Mode, fuel: &'f mut Fuel) -> Self {
        Search {
            regex,
            subject,
            fuel,
            begin: 0,
            mode,
            captures: vec![Capture::default(); regex.groups as usize + 1],
            guards: vec![Guard::default(); regex.repeats as usize],
            stack: Vec::new(),
            found: false,
            best: None,
        }
    }

    /// The best candidate starting at `begin`, if any.
    fn attempt(&mut self, begin: usize) -> Result<Option<Match>, OutOfFuel> {
        // An attempt that stopped early leaves frames and state behind.
        self.stack.clear();
        self.captures.fill(Capture::default());
        self.guards.fill(Guard::default());
        self.found = false;
        self.begin = begin;
        self.run()?;
        let Some((end, captures)) = self.best.take() else {
            return Ok(None);
        };
        Ok(Some(Match {
            start: begin,
            end,
            groups: captures[1..]
                .iter()
                .map(|c| c.matched.then_some((c.start, c.end)))
                .collect(),
        }))
    }

    fn run(&mut self) -> Result<(), OutOfFuel> {
        self.stack.push(Frame::Run(self.regex.start, self.begin));
        while let Some(frame) = self.stack.pop() {
            self.fuel.burn()?;
            match frame {
                Frame::Run(inst, pos) => self.step(inst, pos),
                Frame::RestoreStart(g, start) => self.captures[g as usize].start = start,
                Frame::RestoreCapture(g, c) => self.captures[g as usize] = c,
                Frame::RestoreGuard(id, g) => self.guards[id as usize] = g,
                Frame::NextBranch {
                    inst,
                    next,
                    pos,
                    found,
                } => {
                    let found = found || self.found;
                    let Inst::Branch(entries) = &self.regex.program[inst] else {
                        unreachable!("NextBranch frames point at Branch instructions")
                    };
                    if let Some(&entry) = entries.get(next) {
                        self.found = false;
                        self.stack.push(Frame::NextBranch {
                            inst,
                            next: next + 1,
                            pos,
                            found,
                        });
                        self.stack.push(Frame::Run(entry, pos));
                    } else {
                        self.found = found;
                    }
                }
                Frame::Exit { next, pos } => {
                    if !self.found {
                        self.stack.push(Frame::Run(next, pos));
                    }
                }
            }
            if self.settled() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Whether no further candidate could replace the current best: a later
    /// candidate must end strictly later, and none ends past the subject
    /// (for `match`, every candidate ends at its end).
    fn settled(&self) -> bool {
        match &self.best {
            Some((end, _)) => self.mode.whole || *end == self.subject.len(),
            None => false,
        }
    }

    /// Follows instructions from `inst` at `pos` until a dead end, pushing
    /// what backtracking must undo or try later.
    fn step(&mut self, mut inst: usize, mut pos: usize) {
        let program = &self.regex.program;
        loop {
            match &program[inst] {
                Inst::Byte(b, next) => {
                    if self.subject.get(pos) != Some(b) {
                        return;
                    }
                    pos += 1;
                    inst = *next;
                }
                Inst::Any(next) => {
                    if pos >= self.subject.len() {
                        return;
                    }
                    pos += 1;
                    inst = *next;
                }
                Inst::Set(set, next) => match self.subject.get(pos) {
                    Some(&b) if set.contains(b) => {
                        pos += 1;
                        inst = *next;
                    }
                    _ => return,
                },
                Inst::LineStart(next) => {
                    if pos != 0 {
                        return;
                    }
                    inst = *next;
                }
                Inst::LineEnd(next) => {
                    if pos != self.subject.len() {
                        return;
                    }
                    inst = *next;
                }
                Inst::Open(g, next) => {
                    let c = &mut self.captures[*g as usize];
                    self.stack.push(Frame::RestoreStart(*g, c.start));
                    c.start = pos;
                    inst = *next;
                }
                Inst::Close(g, next) => {
                    let c = &mut self.captures[*g as usize];
                    self.stack.push(Frame::RestoreCapture(*g, *c));
                    c.end = pos;
                    c.matched = true;
                    inst = *next;
                }
                Inst::Branch(entries) => {
                    self.stack.push(Frame::NextBranch {
                        inst,
                        next: 1,
                        pos,
                        found: false,
                    });
                    inst = entries[0];
                }
                Inst::Repeat { id, body, next } => {
                    self.stack.push(Frame::Exit { next: *next, pos });
                    let guard = self.guards[*id as usize];
                    if guard.count == 0 || guard.pos != pos {
                        self.stack.push(Frame::RestoreGuard(*id, guard));
                        self.guards[*id as usize] = Guard { pos, count: 1 };
                    } else if guard.count < 2 {
                        self.stack.push(Frame::RestoreGuard(*id, guard));
                        self.guards[*id as usize].count += 1;
                    } else {
                        return;
                    }
                    inst = *body;
                }
                Inst::Accept => {
                    self.accept(pos);
                    return;
                }
            }
        }
    }

    fn accept(&mut self, pos: usize) {
        if self.mode.whole && pos != self.subject.len() {
            return;
        }
        if self.mode.not_empty && pos == self.begin {
            return;
        }
        self.found = true;
        if self.best.as_ref().is_none_or(|(end, _)| *end < pos) {
            self.best = Some((pos, self.captures.clone()));
        }
    }
}

/// The matches `split` uses, stepping as C++'s `regex_iterator` does: after
/// a non-empty match the next search starts where it ended (and may match
/// the empty string there); after an empty match, first a non-empty match
/// at the same position, then a search from the next byte.
pub(crate) struct Matches<'r, 's, 'f> {
    regex: &'r Regex,
    subject: &'s [u8],
    fuel: &'f mut Fuel,
    /// The previous match's span (`None` before the first).
    last: Option<(usize, usize)>,
}

impl Iterator for Matches<'_, '_, '_> {
    type Item = Result<Match, OutOfFuel>;

    fn next(&mut self) -> Option<Self::Item> {
        let (regex, subject) = (self.regex, self.subject);
        let found = match self.last {
            None => regex.search(subject, 0, false, false, self.fuel),
            Some((start, end)) if start == end => {
                if end == subject.len() {
                    return None;
                }
                match regex.search(subject, end, true, true, self.fuel) {
                    Ok(None) => regex.search(subject, end + 1, false, false, self.fuel),
                    found => found,
                }
            }
            Some((_, end)) => regex.search(subject, end, false, false, self.fuel),
        };
        let found = match found {
            Ok(found) => found?,
            Err(e) => return Some(Err(e)),
        };
        self.last = Some((found.start, found.end));
        Some(Ok(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(pattern: &str, subject: &str) -> Option<Vec<Option<String>>> {
        let re = Regex::new(pattern).unwrap();
        let mut fuel = Fuel::new(u64::MAX);
        let m = re.match_whole(subject.as_bytes(), &mut fuel).unwrap();
        m.map(|m| {
            m.groups
                .iter()
                .map(|g| g.map(|(a, b)| subject[a..b].to_string()))
                .collect()
        })
    }

    fn spans(pattern: &str, subject: &str) -> Vec<(usize, usize)> {
        let re = Regex::new(pattern).unwrap();
        re.matches(subject.as_bytes(), &mut Fuel::new(u64::MAX))
            .map(|m| m.map(|m| (m.start, m.end)).unwrap())
            .collect()
    }

    fn g(items: &[Option<&str>]) -> Option<Vec<Option<String>>> {
        Some(items.iter().map(|i| i.map(str::to_string)).collect())
    }

    // Expected values below are what nix-instantiate 2.8 prints.

    #[test]
    fn literal_patterns_match_as_the_engine_does() {
        let engine_only = |pattern: &str| {
            let mut re = Regex::new(pattern).unwrap();
            assert!(re.literal.is_some(), "{pattern} is a literal");
            re.literal = None;
            re
        };
        let subjects = [
            "", "a", "aaa", "aaaa", "a a  a ", "x::y::", "::", "é.é", "a*b.c", "ab",
        ];
        for pattern in [" ", "aa", "::", "\\.", "a\\*", "é", "ab"] {
            let (fast, slow) = (Regex::new(pattern).unwrap(), engine_only(pattern));
            for subject in subjects {
                let spans = |re: &Regex| -> Vec<(usize, usize)> {
                    re.matches(subject.as_bytes(), &mut Fuel::new(u64::MAX))
                        .map(|m| m.map(|m| (m.start, m.end)).unwrap())
                        .collect()
                };
                assert_eq!(spans(&fast), spans(&slow), "split {pattern:?} {subject:?}");
                let whole =
                    |re: &Regex| re.match_whole(subject.as_bytes(), &mut Fuel::new(u64::MAX));
                assert_eq!(
                    whole(&fast).unwrap(),
                    whole(&slow).unwrap(),
                    "match {pattern:?} {subject:?}"
                );
            }
        }
        for not_literal in ["", "a|b", "(a)", "a*", "^a", "."] {
            assert!(
                Regex::new(not_literal).unwrap().literal.is_none(),
                "{not_literal}"
            );
        }
    }

    #[test]
    fn the_literal_prefix_decides_only_what_it_determines() {
        let prefix = |p: &str| Regex::new(p).unwrap().prefix;
        assert_eq!(prefix("Wone.*"), b"Wone");
        assert_eq!(prefix("(ab)c(d|e)f"), b"abc");
        assert_eq!(prefix("ab?c"), b"a");
        assert_eq!(prefix("a|b"), b"");
        assert_eq!(prefix("a^b"), b"a");
        assert_eq!(whole("(ab)c.*", "abcd"), g(&[Some("ab")]));
        assert_eq!(whole("(ab)c.*", "abd"), None);
        assert_eq!(whole("(ab)c.*", "ab"), None);
        assert_eq!(whole("ab?c", "ac"), g(&[]));
        assert_eq!(whole("a|b", "b"), g(&[]));
    }

    #[test]
    fn alternation_prefers_the_longest_then_the_first() {
        assert_eq!(spans("a|ab", "abc"), vec![(0, 2)]);
        assert_eq!(
            whole("(a|ab)(c|bcd)(d*)", "abcd"),
            g(&[Some("a"), Some("bcd"), Some("")])
        );
        assert_eq!(whole("(a)|b", "b"), g(&[None]));
        let re = Regex::new("(a)|(a)").unwrap();
        let m = re
            .matches(b"a", &mut Fuel::new(u64::MAX))
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(m.groups, vec![Some((0, 1)), None]);
    }

    #[test]
    fn greedy_repetition_that_matched_never_backs_off() {
        assert_eq!(spans("(a*)(ab)*", "aabab")[0], (0, 2));
        assert_eq!(whole("(a+?)(a*)", "aaa"), g(&[Some("aaa"), Some("")]));
    }

    #[test]
    fn empty_iterations_stop_after_two() {
        assert_eq!(whole("(a*)*", "aa"), g(&[Some("")]));
        assert_eq!(whole("(a|)*", "aa"), g(&[Some("")]));
        assert_eq!(whole("(a?)*(a)", "aa"), g(&[Some(""), Some("a")]));
        assert_eq!(whole("((a*)*)*", "aa"), g(&[Some(""), Some("")]));
        assert_eq!(whole("()*", ""), g(&[Some("")]));
        assert_eq!(whole("((a)|b)*", "ab"), g(&[Some("b"), Some("a")]));
    }

    #[test]
    fn split_steps_like_regex_iterator() {
        assert_eq!(spans("a*", "baaac"), vec![(0, 0), (1, 4), (4, 4), (5, 5)]);
        assert_eq!(spans("(|a)", "ab"), vec![(0, 1), (1, 1), (2, 2)]);
        assert_eq!(spans("b|", "ab"), vec![(0, 0), (1, 2), (2, 2)]);
        assert_eq!(spans("", "ab"), vec![(0, 0), (1, 1), (2, 2)]);
        assert_eq!(spans("^a", "aaa"), vec![(0, 1)]);
        assert_eq!(spans("$", "ab"), vec![(2, 2)]);
    }

    #[test]
    fn bytes_not_characters() {
        assert_eq!(whole(".", "é"), None);
        assert_eq!(whole("..", "é"), g(&[]));
        assert_eq!(whole("[é]", "é"), None);
        assert_eq!(whole("[é]+", "é"), g(&[]));
        assert_eq!(whole("a.b", "a\nb"), g(&[]));
        assert_eq!(whole("[^a]", "\n"), g(&[]));
    }

    #[test]
    fn bracket_expressions() {
        assert_eq!(whole("[]a]+", "]a"), g(&[]));
        assert_eq!(whole("[--0]+", "-./0"), g(&[]));
        assert_eq!(whole("[-a]", "b"), None);
        assert_eq!(whole("[^-a]", "-"), None);
        assert_eq!(whole("[a-c-]", "-"), g(&[]));
        assert_eq!(whole("[]-a]", "^"), g(&[]));
        assert_eq!(whole("[[.hyphen.]-a]", "."), g(&[]));
        assert_eq!(whole("[[=a=]]", "A"), g(&[]));
        assert_eq!(whole("[[=zero=]]", "0"), g(&[]));
        assert_eq!(whole("[[:ALPHA:]]", "a"), g(&[]));
        assert_eq!(whole("[[:alpha:]]", "é"), None);
        assert_eq!(whole(r"[\]+", r"\\"), g(&[]));
        assert_eq!(whole("[[a]", "a"), g(&[]));
        assert_eq!(whole("[!-[]", "A"), g(&[]));
    }

    #[test]
    fn counted_repetitions() {
        assert_eq!(whole("a{2,3}", "aaa"), g(&[]));
        assert_eq!(whole("a{2,3}", "aaaa"), None);
        assert_eq!(whole("x{1}{2}", "xx"), g(&[]));
        assert_eq!(whole("a{0}", ""), g(&[]));
        assert_eq!(whole("}]", "}]"), g(&[]));
        assert_eq!(whole("a{4294967297}", "a"), g(&[]));
        assert_eq!(whole("a{2147483648}", "a"), None);
        // Wrapped (negative) lower bounds: max(m, 0) required, n - m optional.
        assert_eq!(whole("a{4294967295,5}", "aaaaaa"), g(&[]));
        assert_eq!(whole("a{4294967295,5}", "aaaaaaa"), None);
        assert_eq!(whole("a{4294967295,0}", "a"), g(&[]));
        assert_eq!(whole("a{2147483648,2147483649}", "a"), g(&[]));
        assert_eq!(whole("(a|){4294967294,4294967295}", ""), g(&[Some("")]));
        assert_eq!(whole("a{18446744073709551615,2}", "aaa"), g(&[]));
        assert_eq!(
            spans("a{4294967290,4294967292}", "baaab"),
            vec![(0, 0), (1, 3), (3, 4), (4, 4), (5, 5)]
        );
        assert_eq!(
            Regex::new("a{2147483648,5}").unwrap_err(),
            RegexError::TooBig
        );
        assert_eq!(
            whole("((a)|(b)){2}", "ab"),
            g(&[Some("b"), Some("a"), Some("b")])
        );
    }

    #[test]
    fn invalid_patterns() {
        for p in [
            "\\d",
            "{",
            "a{,3}",
            "a{}",
            "a{ 1}",
            "a{1",
            "a{3,1}",
            "(?:a)",
            "a|*b",
            "*a",
            "^*",
            "$*",
            "(",
            ")",
            "a)",
            "[",
            "[a",
            "[]",
            "[^]",
            "[z-a]",
            "[a-é]",
            "[a-c-e]",
            "[a--]",
            "[[:nope:]]",
            "[[:alpha:]",
            "[[:alpha]",
            "[[:alpha:]-z]",
            "[a-[:alpha:]]",
            "[a-[.c.]]",
            "[[=a=]-c]",
            "[[.-.]]",
            "[[.0.]]",
            "[[..]]",
            "[[=-=]]",
            "a\\",
            "\\n",
            "\\]",
            "\\}",
            "(a)\\1",
        ] {
            assert!(
                matches!(Regex::new(p), Err(RegexError::Invalid(_))),
                "{p} should be invalid"
            );
        }
    }

    #[test]
    fn state_limit_follows_nix() {
        // The largest counts nix-instantiate accepts, and one more.
        for (shape, largest) in [
            ("a{N}", 99_993),
            ("(a){N}", 24_997),
            ("(ab){N}", 19_997),
            ("a{N,}", 99_992),
            ("a{0,N}", 49_996),
            ("a{1,N}", 49_997),
            ("a*{N}", 49_996),
            ("(a|b){N}", 12_498),
            ("(a|b|c){N}", 8_331),
            ("(){N}", 33_330),
            ("a?{N}", 33_330),
            ("a{2,3}{N}", 16_664),
            ("(a{0,1}){N}", 14_283),
            // A copy leaves out the unused original of an inner count.
            ("((a){2}){N}", 7_690),
            ("((ab){3}){N}", 4_998),
            ("((a|b){2,3}){N}", 3_331),
            ("(ab){3}{N}", 5_880),
            ("(ab){2,}{N}", 5_880),
            ("(ab){N,}", 19_996),
            ("((a)|b|c){N,}", 6_664),
            ("(a|bc){N,}", 11_108),
            ("(){N,}", 33_329),
        ] {
            let ok = shape.replace('N', &largest.to_string());
            let over = shape.replace('N', &(largest + 1).to_string());
            assert!(Regex::new(&ok).is_ok(), "{ok}");
            assert_eq!(Regex::new(&over).unwrap_err(), RegexError::TooBig, "{over}");
        }
        assert_eq!(Regex::new("a{1000}{1000}").unwrap_err(), RegexError::TooBig);
    }

    #[test]
    fn exponential_backtracking_runs_out_of_fuel() {
        let re = Regex::new("(a*)*b").unwrap();
        let subject = "a".repeat(34);
        let mut fuel = Fuel::new(1_000_000);
        assert_eq!(
            re.match_whole(subject.as_bytes(), &mut fuel),
            Err(OutOfFuel)
        );
        assert_eq!(fuel.spent(), 1_000_000);
        let mut fuel = Fuel::new(1_000_000);
        assert_eq!(
            re.matches(subject.as_bytes(), &mut fuel).next(),
            Some(Err(OutOfFuel))
        );
        // A quick match spends little.
        let mut fuel = Fuel::new(1_000);
        assert!(re.match_whole(b"aab", &mut fuel).unwrap().is_some());
    }

    #[test]
    fn long_subjects_do_not_overflow_the_stack() {
        let subject = "a".repeat(1_000_000);
        let groups = whole("(.*)", &subject).unwrap();
        assert_eq!(groups[0].as_deref().map(str::len), Some(1_000_000));
        assert_eq!(spans("x", &subject), vec![]);
    }
}
