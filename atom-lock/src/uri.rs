//! Atom URIs: `[repository::]label[@requirement]` (normative text in
//! `spec/uri.md`).
//!
//! The repository part is a URL (`scheme://[user@]host[:port]/path`), an
//! scp-like address (`[user@]host:path`), a file path, or any of these
//! behind an alias (`gh:owner/repo`). Parsing expands aliases and infers the
//! scheme, so an [`AtomUri`] holds only what may be stored in a manifest or
//! a lock: the expanded [`RepoUrl`].
//!
//! The grammar is eka's (as eka 0.3's URIs are written), not git's:
//! `example.com/o/r` is an https host and `host:123/x` a host with a port,
//! where git's grammar (`gix::url::parse`) reads a local path and an scp
//! path. So the splitting is ours, while what it stores is a URL both the
//! `url` crate and gix read alike (a test holds that, for every form both
//! grammars share), since atom-git connects through gix.

use crate::alias::Aliases;
use atom_format::{Label, LabelError};
use miette::SourceSpan;
use semver::VersionReq;
use std::fmt;
use std::ops::Range;

/// The schemes (transports) a repository URL may name.
pub const SCHEMES: &[&str] = &["file", "git", "http", "https", "ssh"];

/// A repository location, fully expanded: a URL with a scheme, or a file
/// path (absolute, or relative to the manifest that names it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RepoUrl {
    Url(url::Url),
    Path(String),
}

impl RepoUrl {
    /// Parses a repository location, expanding aliases from `aliases`.
    pub fn parse(input: &str, aliases: &Aliases) -> Result<Self, UriError> {
        let err = |e: Failure| e.into_error(input);
        parse_repo(input, 0..input.len(), aliases)
            .map_err(err)?
            .ok_or_else(|| {
                err(Failure::new(
                    UriErrorKind::MissingRepository,
                    0..input.len(),
                ))
            })
    }

    /// The text stored in manifests and locks.
    pub fn as_str(&self) -> &str {
        match self {
            RepoUrl::Url(u) => u.as_str(),
            RepoUrl::Path(p) => p,
        }
    }

    pub fn is_path(&self) -> bool {
        matches!(self, RepoUrl::Path(_))
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses an already expanded location: no aliases are defined, so an
/// alias is an error. This is how locks and manifests are read.
impl std::str::FromStr for RepoUrl {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, UriError> {
        RepoUrl::parse(s, &Aliases::empty())
    }
}

/// A parsed atom URI: which atom, where, and which versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomUri {
    /// `None`: an atom of the current repository (`label`, `::label`).
    pub repo: Option<RepoUrl>,
    pub label: Label,
    /// `None`: any version.
    pub req: Option<VersionReq>,
}

impl AtomUri {
    /// Parses `input`, expanding aliases from `aliases`.
    pub fn parse(input: &str, aliases: &Aliases) -> Result<Self, UriError> {
        let (repo_range, atom_start) = match find_separator(input) {
            Some(i) => (Some(0..i), i + 2),
            None => (None, 0),
        };
        let repo = match repo_range {
            Some(r) => parse_repo(input, r, aliases).map_err(|e| e.into_error(input))?,
            None => None,
        };
        let (label, req) =
            parse_atom(input, atom_start, atom_start > 0).map_err(|e| e.into_error(input))?;
        Ok(AtomUri { repo, label, req })
    }
}

impl fmt::Display for AtomUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.repo {
            write!(f, "{r}::")?;
        }
        write!(f, "{}", self.label)?;
        if let Some(req) = &self.req {
            write!(f, "@{req}")?;
        }
        Ok(())
    }
}

/// What is wrong with a URI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UriErrorKind {
    #[error("missing label")]
    MissingLabel,
    #[error("invalid label: {0}")]
    InvalidLabel(LabelError),
    #[error("empty version requirement")]
    EmptyRequirement,
    #[error("invalid version requirement: {0}")]
    InvalidRequirement(String),
    #[error("missing repository")]
    MissingRepository,
    #[error("unknown alias `{name}`{}", via_text(via))]
    UnknownAlias { name: String, via: Vec<String> },
    #[error("alias cycle {}", chain.join(" -> "))]
    AliasCycle { chain: Vec<String> },
    #[error("unsupported scheme `{0}`")]
    UnsupportedScheme(String),
    #[error("{what} given twice (in the URI and in alias `{alias}`)")]
    AliasConflict { what: &'static str, alias: String },
    #[error("missing host")]
    MissingHost,
    #[error("invalid host `{0}`")]
    InvalidHost(String),
    #[error("invalid port `{0}`")]
    InvalidPort(String),
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
}

fn via_text(via: &[String]) -> String {
    if via.is_empty() {
        String::new()
    } else {
        format!(" (expanding {})", via.join(" -> "))
    }
}

/// An invalid atom URI, with the span of the offending part for miette.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{kind}")]
#[diagnostic(code(eka::uri))]
pub struct UriError {
    pub kind: UriErrorKind,
    #[source_code]
    pub input: String,
    #[label("{note}")]
    pub span: SourceSpan,
    note: String,
    #[help]
    pub help: Option<String>,
}

impl UriError {
    /// The part of the input the error points at.
    pub fn snippet(&self) -> &str {
        let start = self.span.offset().min(self.input.len());
        let end = (start + self.span.len()).min(self.input.len());
        self.input.get(start..end).unwrap_or("")
    }
}

/// An error before the input is attached.
struct Failure {
    kind: UriErrorKind,
    span: Range<usize>,
    note: Option<String>,
    help: Option<String>,
}

impl Failure {
    fn new(kind: UriErrorKind, span: Range<usize>) -> Self {
        Failure {
            kind,
            span,
            note: None,
            help: None,
        }
    }
    fn note(mut self, n: impl Into<String>) -> Self {
        self.note = Some(n.into());
        self
    }
    fn help(mut self, h: impl Into<String>) -> Self {
        self.help = Some(h.into());
        self
    }
    fn into_error(self, input: &str) -> UriError {
        let note = self
            .note
            .unwrap_or_else(|| default_note(&self.kind).to_string());
        let help = self.help.or_else(|| default_help(&self.kind));
        UriError {
            kind: self.kind,
            input: input.to_string(),
            span: (self.span.start, self.span.end - self.span.start).into(),
            note,
            help,
        }
    }
}

/// The label under the span; the message above already gives details.
fn default_note(kind: &UriErrorKind) -> &'static str {
    match kind {
        UriErrorKind::MissingLabel => "expected a label",
        UriErrorKind::InvalidLabel(_) => "not a valid label",
        UriErrorKind::EmptyRequirement | UriErrorKind::InvalidRequirement(_) => {
            "not a valid requirement"
        }
        UriErrorKind::MissingRepository => "expected a repository",
        UriErrorKind::UnknownAlias { .. } => "not a defined alias",
        UriErrorKind::AliasCycle { .. } => "this alias expands to itself",
        UriErrorKind::UnsupportedScheme(_) => "unsupported scheme",
        UriErrorKind::AliasConflict { .. } => "this alias",
        UriErrorKind::MissingHost => "no host here",
        UriErrorKind::InvalidHost(_) => "invalid host",
        UriErrorKind::InvalidPort(_) => "invalid port",
        UriErrorKind::InvalidUrl { .. } => "invalid URL",
    }
}

fn default_help(kind: &UriErrorKind) -> Option<String> {
    let h = match kind {
        UriErrorKind::MissingLabel => "write the atom's label after `::`, e.g. `gh:owner/repo::my-atom`",
        UriErrorKind::InvalidLabel(_) => "a label starts with a letter or `_` and continues with letters, digits, `_` or `-`; to name an atom in a repository write `<repository>::<label>`",
        UriErrorKind::EmptyRequirement | UriErrorKind::InvalidRequirement(_) => "a requirement is a semver requirement such as `^1.2`, `~0.3`, `=1.0.0` or `>=1, <2`; leave out `@…` for any version",
        UriErrorKind::MissingRepository => "write a URL, a path or an alias such as `gh:owner/repo`",
        UriErrorKind::UnsupportedScheme(_) => "supported schemes: file, git, http, https, ssh",
        UriErrorKind::AliasConflict { .. } => "give the scheme and user either in the URI or in the alias, not both",
        UriErrorKind::MissingHost => "write a host after the scheme or `user@`, e.g. `ssh://git@example.com/repo`",
        UriErrorKind::InvalidHost(_) | UriErrorKind::InvalidPort(_) | UriErrorKind::InvalidUrl { .. } => "write `scheme://[user@]host[:port]/path`, `[user@]host:path` or `alias:path`",
        // Built with context by the caller.
        UriErrorKind::UnknownAlias { .. } | UriErrorKind::AliasCycle { .. } => return None,
    };
    Some(h.to_string())
}

/// Byte offset of the first `::` outside `[…]` (an IPv6 literal such as
/// `[::1]` holds `::` of its own).
fn find_separator(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && b.get(i + 1) == Some(&b':') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// `label[@req]` starting at `start`. `after_sep` tells whether a `::`
/// preceded it, for a precise message when nothing follows.
fn parse_atom(
    input: &str,
    start: usize,
    after_sep: bool,
) -> Result<(Label, Option<VersionReq>), Failure> {
    let atom = &input[start..];
    let (label_text, req) = match atom.find('@') {
        Some(i) => (&atom[..i], Some((start + i + 1, &atom[i + 1..]))),
        None => (atom, None),
    };
    if label_text.is_empty() {
        let span = if after_sep {
            start - 2..start
        } else {
            start..start + atom.len().max(1).min(input.len() - start)
        };
        let note = if after_sep {
            "expected a label after this"
        } else {
            "expected a label"
        };
        return Err(Failure::new(UriErrorKind::MissingLabel, span).note(note));
    }
    let label_span = start..start + label_text.len();
    let label = Label::parse(label_text)
        .map_err(|e| Failure::new(UriErrorKind::InvalidLabel(e), label_span.clone()))?;
    let req = match req {
        None => None,
        Some((at, "")) => {
            return Err(Failure::new(UriErrorKind::EmptyRequirement, at - 1..at)
                .note("expected a version requirement after this"))
        }
        Some((at, text)) => Some(VersionReq::parse(text).map_err(|e| {
            Failure::new(
                UriErrorKind::InvalidRequirement(e.to_string()),
                at..at + text.len(),
            )
        })?),
    };
    Ok((label, req))
}

/// The repository part, split before alias expansion.
struct Parts {
    scheme: Option<String>,
    user: Option<String>,
    body: String,
}

fn is_scheme(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '+' | '-' | '.'))
}

/// Splits `[scheme://][user@]body`. Returns the parts and the offsets (in
/// `text`) where the user and the body start.
fn split_parts(text: &str) -> (Parts, Option<Range<usize>>, usize, usize) {
    let (scheme, mut pos) = match text.find("://") {
        Some(i) if is_scheme(&text[..i]) => (Some(text[..i].to_ascii_lowercase()), i + 3),
        _ => (None, 0),
    };
    let rest = &text[pos..];
    // The user ends at the last `@` before the path starts.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (user, user_range) = match rest[..authority_end].rfind('@') {
        Some(i) => (Some(rest[..i].to_string()), Some(pos..pos + i)),
        None => (None, None),
    };
    let scheme_end = pos;
    if let Some(r) = &user_range {
        pos = r.end + 1;
    }
    let parts = Parts {
        scheme,
        user,
        body: text[pos..].to_string(),
    };
    (parts, user_range, scheme_end, pos)
}

/// If `body` starts with an alias reference, its name and the rest after
/// `name:`. `name:` followed by a digit is a port, not an alias; a bare
/// `name` is an alias only if it is defined (otherwise it is a path).
fn alias_ref<'a>(body: &'a str, aliases: &Aliases) -> Option<(&'a str, &'a str)> {
    match body.find(':') {
        Some(i) => {
            let name = &body[..i];
            let rest = &body[i + 1..];
            let is_port = rest.starts_with(|c: char| c.is_ascii_digit());
            (!name.is_empty() && !name.contains(['/', '.', '[', ']']) && !is_port)
                .then_some((name, rest))
        }
        None => aliases.get(body).is_some().then_some((body, "")),
    }
}

fn join(prefix: &str, rest: &str) -> String {
    if rest.is_empty() {
        prefix.to_string()
    } else if prefix.ends_with('/') || prefix.ends_with(':') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}/{rest}")
    }
}

/// Where a repository part sits in the whole input, and what parsing has
/// made of it so far.
struct RepoText<'i> {
    text: &'i str,
    /// The offset of `text` in the whole input.
    base: usize,
    /// Where the body (after `scheme://` and `user@`) is in the input.
    body_span: Range<usize>,
    /// Where the user is in the input (the body if there is none).
    user_span: Range<usize>,
    parts: Parts,
    /// The aliases expanded, in order.
    chain: Vec<String>,
}

fn parse_repo(
    input: &str,
    range: Range<usize>,
    aliases: &Aliases,
) -> Result<Option<RepoUrl>, Failure> {
    let text = &input[range.clone()];
    if text.is_empty() {
        return Ok(None);
    }
    let (parts, user_range, scheme_end, body_start) = split_parts(text);
    let base = range.start;
    let body_span = base + body_start..range.end;
    let mut repo = RepoText {
        text,
        base,
        user_span: user_range.map_or(body_span.clone(), |r| base + r.start..base + r.end),
        body_span,
        parts,
        chain: Vec::new(),
    };
    check_scheme(&repo, scheme_end)?;
    expand_aliases(&mut repo, aliases)?;
    let auth = split_authority(&repo.parts.body).map_err(|kind| authority_failure(&repo, kind))?;
    let Some(scheme) = scheme_of(&repo, &auth)? else {
        return Ok(Some(RepoUrl::Path(repo.parts.body.clone())));
    };
    check_user_and_host(&repo, &scheme, &auth)?;
    url_of(&repo, &scheme, &auth).map(|url| Some(RepoUrl::Url(url)))
}

/// Refuses a scheme eka has no transport for.
fn check_scheme(repo: &RepoText, scheme_end: usize) -> Result<(), Failure> {
    match &repo.parts.scheme {
        Some(s) if !SCHEMES.contains(&s.as_str()) => Err(Failure::new(
            UriErrorKind::UnsupportedScheme(s.clone()),
            repo.base..repo.base + scheme_end - 3,
        )),
        _ => Ok(()),
    }
}

/// Expands aliases until none is left, remembering the chain so that a
/// cycle is reported instead of looping. Errors point at the first alias.
fn expand_aliases(repo: &mut RepoText, aliases: &Aliases) -> Result<(), Failure> {
    let mut first_alias_span = None;
    while let Some((name, rest)) = alias_ref(&repo.parts.body, aliases) {
        let span = first_alias_span
            .get_or_insert(repo.body_span.start..repo.body_span.start + name.len())
            .clone();
        let (name, rest) = (name.to_string(), rest.to_string());
        if repo.chain.contains(&name) {
            repo.chain.push(name);
            return Err(alias_cycle(&repo.chain, aliases, span));
        }
        let Some(alias) = aliases.get(&name) else {
            return Err(unknown_alias(name, &repo.chain, aliases, span));
        };
        let value = alias.value.clone();
        apply_alias(&mut repo.parts, &name, &value, &rest, span)?;
        repo.chain.push(name);
    }
    Ok(())
}

fn alias_cycle(chain: &[String], aliases: &Aliases, span: Range<usize>) -> Failure {
    let definitions = chain[..chain.len() - 1]
        .iter()
        .filter_map(|n| {
            aliases
                .get(n)
                .map(|a| format!("{n} = \"{}\" ({})", a.value, a.origin))
        })
        .collect::<Vec<_>>()
        .join("; ");
    Failure::new(
        UriErrorKind::AliasCycle {
            chain: chain.to_vec(),
        },
        span,
    )
    .note("this alias expands to itself")
    .help(format!(
        "break the cycle in the alias definitions: {definitions}"
    ))
}

fn unknown_alias(name: String, via: &[String], aliases: &Aliases, span: Range<usize>) -> Failure {
    let known: Vec<&str> = aliases.names().collect();
    let known = if known.is_empty() {
        "no aliases are defined".to_string()
    } else {
        format!("known aliases: {}", known.join(", "))
    };
    let note = if via.is_empty() {
        "not a defined alias".to_string()
    } else {
        format!("expands through undefined alias `{name}`")
    };
    Failure::new(
        UriErrorKind::UnknownAlias {
            name,
            via: via.to_vec(),
        },
        span,
    )
    .note(note)
    .help(format!(
        "{known}; define one under [aliases] in ~/.config/eka/config.toml or .eka/config.toml, \
         or write a URL (an ssh host without a dot needs `ssh://host/path`)"
    ))
}

/// Replaces the alias `name` at the start of the body by its `value`, whose
/// scheme and user may not contradict the input's own.
fn apply_alias(
    parts: &mut Parts,
    name: &str,
    value: &str,
    rest: &str,
    span: Range<usize>,
) -> Result<(), Failure> {
    let conflict = |what| {
        let alias = name.to_string();
        Failure::new(UriErrorKind::AliasConflict { what, alias }, span.clone())
    };
    let (value, _, _, _) = split_parts(value);
    if let Some(s) = value.scheme {
        if parts.scheme.is_some() {
            return Err(conflict("scheme"));
        }
        if !SCHEMES.contains(&s.as_str()) {
            return Err(Failure::new(UriErrorKind::UnsupportedScheme(s), span)
                .note(format!("alias `{name}` names this scheme")));
        }
        parts.scheme = Some(s);
    }
    if let Some(u) = value.user {
        if parts.user.is_some() {
            return Err(conflict("user"));
        }
        parts.user = Some(u);
    }
    parts.body = join(value.body.trim_end_matches('/'), rest);
    Ok(())
}

/// An error in the (expanded) body; after an expansion, it says what the
/// body expanded to.
fn at_body(repo: &RepoText, kind: UriErrorKind) -> Failure {
    let f = Failure::new(kind, repo.body_span.clone());
    if repo.chain.is_empty() {
        f
    } else {
        let note = format!("expands to `{}`", repo.parts.body);
        f.note(note)
    }
}

/// A malformed authority. Without expansion the body is the input itself,
/// so a bad port is pointed at exactly (an IPv6 host's own colons precede
/// its `]`).
fn authority_failure(repo: &RepoText, kind: UriErrorKind) -> Failure {
    let body = &repo.parts.body;
    match (&kind, repo.chain.is_empty()) {
        (UriErrorKind::InvalidPort(p), true) => {
            let from = if body.starts_with('[') {
                body.find(']').map_or(0, |i| i + 1)
            } else {
                0
            };
            let at = repo.body_span.start + from + body[from..].find(':').unwrap_or(0) + 1;
            Failure::new(kind.clone(), at..at + p.len())
        }
        _ => at_body(repo, kind),
    }
}

/// The URL's scheme: the one written (scp-like syntax is refused with a
/// scheme), else inferred, ssh for scp-like or a user without password,
/// https for a host; `None` for a file path.
fn scheme_of(repo: &RepoText, auth: &Authority) -> Result<Option<String>, Failure> {
    let user = repo.parts.user.as_deref();
    if let Some(s) = &repo.parts.scheme {
        if auth.scp {
            let f = at_body(repo, UriErrorKind::InvalidPort(auth.port_text.to_string()));
            let note = format!("`{}` is not a port", auth.port_text);
            return Err(f.note(note).help(
                "`host:path` (scp-like) is for ssh without a scheme; with a scheme write `scheme://host/path`",
            ));
        }
        return Ok(Some(s.clone()));
    }
    let remote = auth.scp || user.is_some() || auth.port.is_some() || looks_like_host(auth.host);
    if !remote {
        return Ok(None);
    }
    let password = user.is_some_and(|u| u.contains(':'));
    Ok(Some(if auth.scp || (user.is_some() && !password) {
        "ssh".to_string()
    } else {
        "https".to_string()
    }))
}

fn check_user_and_host(repo: &RepoText, scheme: &str, auth: &Authority) -> Result<(), Failure> {
    if repo.parts.user.as_deref() == Some("") {
        return Err(Failure::new(
            UriErrorKind::InvalidUrl {
                url: repo.text.to_string(),
                reason: "empty user name".into(),
            },
            repo.user_span.clone(),
        ));
    }
    if auth.host.is_empty() && scheme != "file" {
        return Err(at_body(repo, UriErrorKind::MissingHost));
    }
    if !auth.host.is_empty() {
        check_host(auth.host).map_err(|kind| at_body(repo, kind))?;
    }
    Ok(())
}

/// The URL in its one stored form: `scheme://[user@]host[:port]/path`,
/// the host lower-cased.
fn url_of(repo: &RepoText, scheme: &str, auth: &Authority) -> Result<url::Url, Failure> {
    let user = repo
        .parts
        .user
        .as_ref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let port = auth.port.map(|p| format!(":{p}")).unwrap_or_default();
    let path = auth.path.trim_start_matches('/');
    let host = auth.host.to_ascii_lowercase();
    let full = format!("{scheme}://{user}{host}{port}/{path}");
    url::Url::parse(&full).map_err(|e| {
        at_body(
            repo,
            UriErrorKind::InvalidUrl {
                url: full.clone(),
                reason: e.to_string(),
            },
        )
    })
}

struct Authority<'a> {
    host: &'a str,
    port: Option<u16>,
    port_text: &'a str,
    /// `host:path` (scp-like) rather than `host[:port]/path`.
    scp: bool,
    path: &'a str,
}

fn split_authority(body: &str) -> Result<Authority<'_>, UriErrorKind> {
    let (host, rest) = if body.starts_with('[') {
        let end = body
            .find(']')
            .ok_or_else(|| UriErrorKind::InvalidHost(body.to_string()))?;
        (&body[..=end], &body[end + 1..])
    } else {
        let end = body.find([':', '/']).unwrap_or(body.len());
        (&body[..end], &body[end..])
    };
    let Some(after) = rest.strip_prefix(':') else {
        if !rest.is_empty() && !rest.starts_with('/') {
            return Err(UriErrorKind::InvalidHost(host.to_string() + rest));
        }
        return Ok(Authority {
            host,
            port: None,
            port_text: "",
            scp: false,
            path: rest,
        });
    };
    if after.starts_with(|c: char| c.is_ascii_digit()) {
        let end = after.find('/').unwrap_or(after.len());
        let text = &after[..end];
        let port = text
            .parse::<u16>()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| UriErrorKind::InvalidPort(text.to_string()))?;
        Ok(Authority {
            host,
            port: Some(port),
            port_text: text,
            scp: false,
            path: &after[end..],
        })
    } else {
        let end = after.find('/').unwrap_or(after.len());
        Ok(Authority {
            host,
            port: None,
            port_text: &after[..end],
            scp: true,
            path: after,
        })
    }
}

/// Whether the first segment of a scheme-less location is a host rather
/// than a directory: a dotted domain name, `localhost`, or an IP literal.
/// (eka 0.3 consults the public suffix list and so takes `localhost` and IP
/// addresses for paths; we do not.) A relative path whose first directory
/// has a dot in its name must be written `./dir.d/…`.
fn looks_like_host(seg: &str) -> bool {
    if seg.eq_ignore_ascii_case("localhost") || seg.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    if seg.starts_with('[') {
        return true;
    }
    let labels: Vec<&str> = seg.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
        && !labels[labels.len() - 1].chars().all(|c| c.is_ascii_digit())
}

fn check_host(host: &str) -> Result<(), UriErrorKind> {
    let bad = || UriErrorKind::InvalidHost(host.to_string());
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(bad)?;
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| bad());
    }
    let ok = host.split('.').all(|l| {
        !l.is_empty()
            && l.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    });
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alias::AliasOrigin;

    fn parse(s: &str) -> Result<AtomUri, UriError> {
        AtomUri::parse(s, &Aliases::builtin())
    }

    fn url(s: &str) -> String {
        parse(s).unwrap().repo.unwrap().to_string()
    }

    #[test]
    fn separator_skips_ipv6_brackets() {
        assert_eq!(find_separator("http://[::1]:80/r::a"), Some(17));
        assert_eq!(url("http://[::1]:8080/r.git::a"), "http://[::1]:8080/r.git");
        assert_eq!(url("git@[::1]:r.git::a"), "ssh://git@[::1]/r.git");
    }

    #[test]
    fn builtin_forges() {
        assert_eq!(url("cb:o/r::a"), "https://codeberg.org/o/r");
        assert_eq!(url("sr:~u/r::a"), "https://git.sr.ht/~u/r");
        assert_eq!(url("git@gh:o/r::a"), "ssh://git@github.com/o/r");
    }

    #[test]
    fn hosts_are_lower_cased_and_ports_kept() {
        assert_eq!(
            url("ssh://git@Example.COM:22/r::a"),
            "ssh://git@example.com:22/r"
        );
        assert_eq!(url("localhost:9418/r::a"), "https://localhost:9418/r");
        assert_eq!(url("10.0.0.1/r::a"), "https://10.0.0.1/r");
        assert_eq!(url("file:///srv/r.git::a"), "file:///srv/r.git");
    }

    #[test]
    fn relative_paths_stay_paths() {
        for p in ["./x.d/r", "../r", "r", "a/b", "/abs/r", "dir/host.com"] {
            let u = parse(&format!("{p}::a")).unwrap().repo.unwrap();
            assert_eq!(u, RepoUrl::Path(p.to_string()), "{p}");
        }
    }

    #[test]
    fn alias_values_may_carry_scheme_and_user() {
        let mut t = Aliases::builtin();
        t.insert("work", "git@github.com:my-org", AliasOrigin::Other)
            .unwrap();
        t.insert("mirror", "http://127.0.0.1:8080/", AliasOrigin::Other)
            .unwrap();
        let u = |s: &str| AtomUri::parse(s, &t).unwrap().repo.unwrap().to_string();
        assert_eq!(u("work:repo::a"), "ssh://git@github.com/my-org/repo");
        assert_eq!(u("mirror:x.git::a"), "http://127.0.0.1:8080/x.git");
        let e = AtomUri::parse("https://mirror:repo::a", &t).unwrap_err();
        assert!(
            matches!(e.kind, UriErrorKind::AliasConflict { what: "scheme", .. }),
            "{e:?}"
        );
        assert_eq!(e.snippet(), "mirror");
        // An scp-like expansion cannot follow an explicit scheme.
        let e = AtomUri::parse("https://work:repo::a", &t).unwrap_err();
        assert_eq!(e.kind, UriErrorKind::InvalidPort("my-org".into()));
        assert!(e.to_string().contains("my-org"));
        let e = AtomUri::parse("me@work:repo::a", &t).unwrap_err();
        assert!(matches!(
            e.kind,
            UriErrorKind::AliasConflict { what: "user", .. }
        ));
    }

    #[test]
    fn unknown_alias_points_at_the_name() {
        let e = parse("gx:o/r::a").unwrap_err();
        assert_eq!(
            e.kind,
            UriErrorKind::UnknownAlias {
                name: "gx".into(),
                via: vec![]
            }
        );
        assert_eq!(e.snippet(), "gx");
        assert!(e.help.as_deref().unwrap().contains("gh"), "{:?}", e.help);
        // An undefined alias reached through a defined one.
        let mut t = Aliases::builtin();
        t.insert("w", "gx:org", AliasOrigin::Other).unwrap();
        let e = AtomUri::parse("git@w:r::a", &t).unwrap_err();
        assert_eq!(
            e.kind,
            UriErrorKind::UnknownAlias {
                name: "gx".into(),
                via: vec!["w".into()]
            }
        );
        assert_eq!(e.snippet(), "w");
    }

    #[test]
    fn self_alias_is_a_cycle() {
        let mut t = Aliases::empty();
        t.insert("me", "me:x", AliasOrigin::Other).unwrap();
        let e = AtomUri::parse("me::a", &t).unwrap_err();
        assert_eq!(
            e.kind,
            UriErrorKind::AliasCycle {
                chain: vec!["me".into(), "me".into()]
            }
        );
    }

    #[test]
    fn requirement_errors_point_at_the_requirement() {
        let e = parse("gh:o/r::a@").unwrap_err();
        assert_eq!(e.kind, UriErrorKind::EmptyRequirement);
        assert_eq!(e.snippet(), "@");
        let e = parse("gh:o/r::a@>=1,<").unwrap_err();
        assert!(matches!(e.kind, UriErrorKind::InvalidRequirement(_)));
        assert_eq!(e.snippet(), ">=1,<");
    }

    #[test]
    fn malformed_remotes() {
        let kind = |s: &str| parse(s).unwrap_err().kind;
        assert_eq!(
            kind("ftp://h/r::a"),
            UriErrorKind::UnsupportedScheme("ftp".into())
        );
        assert_eq!(parse("ftp://h/r::a").unwrap_err().snippet(), "ftp");
        assert_eq!(kind("https:///r::a"), UriErrorKind::MissingHost);
        assert_eq!(kind("git@/r::a"), UriErrorKind::MissingHost);
        assert_eq!(
            kind("https://h:99999/r::a"),
            UriErrorKind::InvalidPort("99999".into())
        );
        assert_eq!(
            kind("https://h:80x/r::a"),
            UriErrorKind::InvalidPort("80x".into())
        );
        assert!(matches!(
            kind("https://a..b/r::a"),
            UriErrorKind::InvalidHost(_)
        ));
        assert!(matches!(
            kind("https://[zz]/r::a"),
            UriErrorKind::InvalidHost(_)
        ));
        let e = parse("https://a..b/r::a").unwrap_err();
        assert_eq!(e.snippet(), "a..b/r");
    }

    #[test]
    fn no_label_without_separator() {
        let e = parse("").unwrap_err();
        assert_eq!(e.kind, UriErrorKind::MissingLabel);
        let e = parse("gh:o/r").unwrap_err();
        assert!(matches!(e.kind, UriErrorKind::InvalidLabel(_)));
        assert!(e.help.unwrap().contains("<repository>::<label>"));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "https://github.com/o/r::a@^1",
            "::a",
            "a",
            "foo/bar::b@=1.2.3",
        ] {
            let u = parse(s).unwrap();
            assert_eq!(parse(&u.to_string()).unwrap(), u, "{s}");
        }
    }

    /// Where git's own grammar (gix::url::parse) reads the same input, it
    /// finds the same user, host and port, and every stored URL reads back
    /// through gix as it reads through `url` (atom-git connects with gix).
    #[test]
    fn git_reads_what_we_store_as_we_do() {
        use gix::bstr::ByteSlice as _;
        // Inputs git's grammar and ours share: URLs with a scheme, and scp
        // addresses (not `git@[::1]:r.git`, which git reads but gix refuses).
        let shared = [
            "ssh://git@Example.COM:2222/srv/r.git",
            "git://127.0.0.1:9418/r.git",
            "http://[::1]:8080/r.git",
            "https://user@host.example/o/r",
            "git@github.com:o/r.git",
            "me@box.example:repos/r.git",
            "box.lan:r.git",
        ];
        for input in shared {
            let ours = match parse(&format!("{input}::a")).unwrap().repo.unwrap() {
                RepoUrl::Url(u) => u,
                p => panic!("{input}: a path {p}"),
            };
            let git = gix::url::parse(input.as_bytes().as_bstr()).unwrap();
            assert_eq!(git.scheme.as_str(), ours.scheme(), "{input}");
            assert_eq!(
                git.user(),
                Some(ours.username()).filter(|u| !u.is_empty()),
                "{input}"
            );
            let host = git.host().map(str::to_ascii_lowercase);
            let ours_host = ours
                .host_str()
                .map(|h| h.trim_matches(['[', ']']).to_owned());
            assert_eq!(
                host.as_deref().map(|h| h.trim_matches(['[', ']'])),
                ours_host.as_deref(),
                "{input}"
            );
            assert_eq!(git.port, ours.port(), "{input}");
            let stored = gix::url::parse(ours.as_str().as_bytes().as_bstr()).unwrap();
            assert_eq!(stored.scheme.as_str(), ours.scheme(), "{input}");
            assert_eq!(stored.port, ours.port(), "{input}");
            assert_eq!(stored.path.to_string(), ours.path(), "{input}");
        }
    }

    #[test]
    fn miette_renders_the_span() {
        let e = parse("gh:o/r::9bad").unwrap_err();
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &e)
            .unwrap();
        assert!(out.contains("gh:o/r::9bad"), "{out}");
        assert!(out.contains("invalid label"), "{out}");
        assert!(out.contains("help:"), "{out}");
    }
}
