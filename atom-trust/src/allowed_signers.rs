//! OpenSSH's `allowed_signers` format (`ssh-keygen(1)`, "ALLOWED SIGNERS"),
//! read as `ssh-keygen -Y verify` reads it (`sshsig.c`):
//!
//! ```text
//! # comment
//! principal[,principal…] [option[,option…]] keytype base64 [comment]
//! ```
//!
//! Principals are OpenSSH patterns (`*`, `?`, `!`); the whole field may be
//! quoted. Options: `cert-authority`, `namespaces="pattern-list"`,
//! `valid-after="time"`, `valid-before="time"` (names in any case, values
//! quoted). A key signs validly when some line holds it, allows the
//! signature's namespace, and `valid-after ≤ time ≤ valid-before` at the
//! signing time.
//!
//! Two deliberate differences, both strictness: a line OpenSSH would refuse
//! makes the whole file an error here (OpenSSH stops at it, so later lines
//! silently stop counting), and a time without a zone (`Z`) is refused,
//! since OpenSSH reads it in the checking machine's local time.

use std::fmt;

use ssh_key::public::KeyData;
use ssh_key::PublicKey;

use crate::pattern::{matches_list, ListMatch};
use crate::time::{TimeError, Timestamp};
use crate::KeyFingerprint;

/// One line of an `allowed_signers` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedSigner {
    /// Its line number, from 1.
    pub line: usize,
    /// The principals field, as written (a pattern list).
    pub principals: String,
    /// `cert-authority`: the key is a CA whose certificates may sign.
    pub cert_authority: bool,
    /// `namespaces=`: the signature namespaces it may sign in.
    pub namespaces: Option<String>,
    pub valid_after: Option<Timestamp>,
    pub valid_before: Option<Timestamp>,
    pub key: PublicKey,
}

/// A parsed `allowed_signers` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedSigners {
    pub signers: Vec<AllowedSigner>,
}

/// A line of an `allowed_signers` file that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct AllowedSignersError {
    pub line: usize,
    #[source]
    pub problem: LineProblem,
}

/// What is wrong with one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("a principal list and a key are needed")]
    Incomplete,
    #[error("a quote is not closed")]
    UnclosedQuote,
    #[error("a quote inside the principals `{0}`")]
    QuoteInPrincipals(String),
    #[error("the key does not parse: {0}")]
    BadKey(String),
    #[error("unknown option `{0}` (known: cert-authority, namespaces, valid-after, valid-before)")]
    UnknownOption(String),
    #[error("the option `{0}` is given twice")]
    Repeated(&'static str),
    #[error("the value of `{0}` must be quoted (`{0}=\"…\"`)")]
    Unquoted(&'static str),
    #[error("`{option}`: {source}")]
    BadTime {
        option: &'static str,
        #[source]
        source: TimeError,
    },
    #[error("valid-before ({before}) is not after valid-after ({after})")]
    EmptyWindow { after: Timestamp, before: Timestamp },
}

/// What an `allowed_signers` file says about a key signing at a time in a
/// namespace.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Judgement {
    /// A line allows it.
    Allowed { principals: String, line: usize },
    /// No line holds the key.
    UnknownSigner,
    /// Lines hold the key, but the first of them refuses it for this reason
    /// (and no other line allows it).
    Refused { line: usize, reason: Refusal },
}

/// Why a line that holds the key does not allow this signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Refusal {
    /// Signed after `valid-before`: the key was retired or revoked.
    Expired {
        valid_before: Timestamp,
        signed_at: Timestamp,
    },
    /// Signed before `valid-after`.
    NotYetValid {
        valid_after: Timestamp,
        signed_at: Timestamp,
    },
    /// The line's `namespaces=` does not allow the signature's namespace.
    Namespace { namespace: String, allowed: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Expired {
                valid_before,
                signed_at,
            } => write!(
                f,
                "the key expired (valid-before {valid_before}) before the signing time {signed_at}"
            ),
            Refusal::NotYetValid {
                valid_after,
                signed_at,
            } => write!(
                f,
                "the key was not yet valid (valid-after {valid_after}) at the signing time {signed_at}"
            ),
            Refusal::Namespace { namespace, allowed } => write!(
                f,
                "the key may sign only in namespaces `{allowed}`, not `{namespace}`"
            ),
        }
    }
}

impl AllowedSigners {
    /// Parses a whole file; any line OpenSSH would refuse is an error.
    pub fn parse(text: &str) -> Result<Self, AllowedSignersError> {
        let mut signers = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let parsed = parse_line(line).map_err(|problem| AllowedSignersError {
                line: i + 1,
                problem,
            })?;
            if let Some(mut signer) = parsed {
                signer.line = i + 1;
                signers.push(signer);
            }
        }
        Ok(AllowedSigners { signers })
    }

    /// What the file says about `key` signing at `signed_at` in `namespace`:
    /// the first line that holds the key and allows the signature wins, as in
    /// `ssh-keygen -Y verify`. Certificate authority lines allow only
    /// signatures made with certificates, which eka does not read (their
    /// signatures are refused before this point), so they never match.
    pub fn judge(&self, key: &KeyData, namespace: &str, signed_at: Timestamp) -> Judgement {
        self.judge_where(
            |s| !s.cert_authority && s.key.key_data() == key,
            namespace,
            signed_at,
        )
    }

    /// [`judge`](Self::judge) for one principal, as `ssh-keygen -Y verify
    /// -I principal` asks: only lines whose principal patterns match it
    /// count.
    pub fn judge_principal(
        &self,
        principal: &str,
        key: &KeyData,
        namespace: &str,
        signed_at: Timestamp,
    ) -> Judgement {
        self.judge_where(
            |s| {
                !s.cert_authority
                    && s.key.key_data() == key
                    && matches_list(principal, &s.principals) == ListMatch::Matched
            },
            namespace,
            signed_at,
        )
    }

    /// [`judge`](Self::judge) for a key known by its fingerprint only (as a
    /// lock records it).
    pub fn judge_fingerprint(
        &self,
        fingerprint: &KeyFingerprint,
        namespace: &str,
        signed_at: Timestamp,
    ) -> Judgement {
        self.judge_where(
            |s| !s.cert_authority && KeyFingerprint::of(s.key.key_data()) == *fingerprint,
            namespace,
            signed_at,
        )
    }

    /// Whether some line holds the key `fingerprint` (whatever its options
    /// say): a key no line holds is refused without reading what it signed.
    pub fn holds(&self, fingerprint: &KeyFingerprint) -> bool {
        self.signers
            .iter()
            .any(|s| !s.cert_authority && KeyFingerprint::of(s.key.key_data()) == *fingerprint)
    }

    fn judge_where(
        &self,
        holds_key: impl Fn(&AllowedSigner) -> bool,
        namespace: &str,
        signed_at: Timestamp,
    ) -> Judgement {
        let mut first_refusal = None;
        for signer in self.signers.iter().filter(|s| holds_key(s)) {
            match signer.refusal(namespace, signed_at) {
                None => {
                    return Judgement::Allowed {
                        principals: signer.principals.clone(),
                        line: signer.line,
                    }
                }
                Some(reason) => {
                    first_refusal.get_or_insert(Judgement::Refused {
                        line: signer.line,
                        reason,
                    });
                }
            }
        }
        first_refusal.unwrap_or(Judgement::UnknownSigner)
    }
}

impl AllowedSigner {
    fn refusal(&self, namespace: &str, signed_at: Timestamp) -> Option<Refusal> {
        if let Some(allowed) = &self.namespaces {
            if matches_list(namespace, allowed) != ListMatch::Matched {
                return Some(Refusal::Namespace {
                    namespace: namespace.to_owned(),
                    allowed: allowed.clone(),
                });
            }
        }
        if let Some(valid_after) = self.valid_after.filter(|a| signed_at < *a) {
            return Some(Refusal::NotYetValid {
                valid_after,
                signed_at,
            });
        }
        if let Some(valid_before) = self.valid_before.filter(|b| signed_at > *b) {
            return Some(Refusal::Expired {
                valid_before,
                signed_at,
            });
        }
        None
    }
}

/// One line: `None` for blank and comment lines.
fn parse_line(line: &str) -> Result<Option<AllowedSigner>, LineProblem> {
    let line = line.trim_matches([' ', '\t', '\r']);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (principals, rest) = principals_field(line)?;
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Err(LineProblem::Incomplete);
    }
    let (options, key) = if starts_with_key_type(rest) {
        ("", rest)
    } else {
        let end = options_end(rest)?;
        (&rest[..end], rest[end..].trim_start_matches([' ', '\t']))
    };
    if key.is_empty() {
        return Err(LineProblem::Incomplete);
    }
    let key = PublicKey::from_openssh(key).map_err(|e| LineProblem::BadKey(e.to_string()))?;
    let mut signer = AllowedSigner {
        line: 0,
        principals,
        cert_authority: false,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key,
    };
    parse_options(options, &mut signer)?;
    if let (Some(after), Some(before)) = (signer.valid_after, signer.valid_before) {
        if before <= after {
            return Err(LineProblem::EmptyWindow { after, before });
        }
    }
    Ok(Some(signer))
}

/// The principals field (`strdelimw`): up to white space, or a quoted
/// string.
fn principals_field(line: &str) -> Result<(String, &str), LineProblem> {
    if let Some(quoted) = line.strip_prefix('"') {
        let end = quoted.find('"').ok_or(LineProblem::UnclosedQuote)?;
        return Ok((quoted[..end].to_owned(), &quoted[end + 1..]));
    }
    let end = line.find([' ', '\t']).ok_or(LineProblem::Incomplete)?;
    let principals = &line[..end];
    if principals.contains('"') {
        return Err(LineProblem::QuoteInPrincipals(principals.to_owned()));
    }
    Ok((principals.to_owned(), &line[end..]))
}

/// Whether the text starts with a key (OpenSSH tries to read a key first,
/// and takes the field for options only if that fails).
fn starts_with_key_type(text: &str) -> bool {
    let first = text.split([' ', '\t']).next().unwrap_or("");
    !first.contains(['=', '"'])
        && (first.parse::<ssh_key::Algorithm>().is_ok() || first.contains("-cert-v01@openssh.com"))
}

/// Where the options field ends: the first unquoted white space
/// (`sshkey_advance_past_options`).
fn options_end(text: &str) -> Result<usize, LineProblem> {
    let mut quoted = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if chars.peek().map(|(_, c)| *c) == Some('"') => {
                chars.next();
            }
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return Ok(i),
            _ => {}
        }
    }
    if quoted {
        Err(LineProblem::UnclosedQuote)
    } else {
        Ok(text.len())
    }
}

/// The options (`sshsigopt_parse`): comma-separated, names in any case.
fn parse_options(mut opts: &str, signer: &mut AllowedSigner) -> Result<(), LineProblem> {
    while !opts.is_empty() {
        let lower = opts.to_ascii_lowercase();
        if lower.starts_with("cert-authority") {
            signer.cert_authority = true;
            opts = &opts["cert-authority".len()..];
        } else if let Some(name) = ["namespaces", "valid-after", "valid-before"]
            .into_iter()
            .find(|n| lower.starts_with(&format!("{n}=")))
        {
            let (value, rest) = dequote(&opts[name.len() + 1..], name)?;
            opts = rest;
            set_option(signer, name, value)?;
        } else {
            let name = opts.split([',', '=']).next().unwrap_or(opts);
            return Err(LineProblem::UnknownOption(name.to_owned()));
        }
        match opts.strip_prefix(',') {
            Some(rest) if !rest.is_empty() => opts = rest,
            None if opts.is_empty() => {}
            _ => {
                let name = opts.split([',', '=']).next().unwrap_or(opts);
                return Err(LineProblem::UnknownOption(name.to_owned()));
            }
        }
    }
    Ok(())
}

fn set_option(signer: &mut AllowedSigner, name: &str, value: String) -> Result<(), LineProblem> {
    let time = |option: &'static str| {
        Timestamp::parse_openssh(&value).map_err(|source| LineProblem::BadTime { option, source })
    };
    match name {
        "namespaces" if signer.namespaces.is_some() => Err(LineProblem::Repeated("namespaces")),
        "namespaces" => {
            signer.namespaces = Some(value);
            Ok(())
        }
        "valid-after" if signer.valid_after.is_some() => Err(LineProblem::Repeated("valid-after")),
        "valid-after" => {
            signer.valid_after = Some(time("valid-after")?);
            Ok(())
        }
        _ if signer.valid_before.is_some() => Err(LineProblem::Repeated("valid-before")),
        _ => {
            signer.valid_before = Some(time("valid-before")?);
            Ok(())
        }
    }
}

/// A quoted value (`opt_dequote`: `\"` stands for `"`), and what follows.
fn dequote<'a>(text: &'a str, option: &'static str) -> Result<(String, &'a str), LineProblem> {
    let body = text
        .strip_prefix('"')
        .ok_or(LineProblem::Unquoted(match option {
            "namespaces" => "namespaces",
            "valid-after" => "valid-after",
            _ => "valid-before",
        }))?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if body[i + 1..].starts_with('"') => {
                value.push('"');
                chars.next();
            }
            '"' => return Ok((value, &body[i + 1..])),
            c => value.push(c),
        }
    }
    Err(LineProblem::UnclosedQuote)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const ALICE: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILKfebrg8tpLCwUqCGp6HcFaE7fDO/GjVEc6XH45+EG4";

    fn one(line: &str) -> AllowedSigner {
        let file = AllowedSigners::parse(line).unwrap();
        assert_eq!(file.signers.len(), 1, "{line}");
        file.signers.into_iter().next().unwrap()
    }

    #[test]
    fn the_forms_openssh_reads() {
        let s = one(&format!("alice@example.com {ALICE} a comment"));
        assert_eq!(s.principals, "alice@example.com");
        assert_eq!(s.key.comment(), "a comment");
        let s = one(&format!(
            "\"alice,bob\" NAMESPACES=\"git,file\",Valid-After=\"20240101Z\",valid-before=\"20250101000000Z\" {ALICE}"
        ));
        assert_eq!(s.principals, "alice,bob");
        assert_eq!(s.namespaces.as_deref(), Some("git,file"));
        assert_eq!(s.valid_after, Some(Timestamp(1_704_067_200)));
        assert_eq!(s.valid_before, Some(Timestamp(1_735_689_600)));
        let s = one(&format!("  *@example.com cert-authority {ALICE}\r"));
        assert!(s.cert_authority);
        let file = AllowedSigners::parse(&format!("# people\n\n  # more\nx {ALICE}\n")).unwrap();
        assert_eq!(file.signers[0].line, 4);
        let s = one(&format!("x namespaces=\"a \\\"b\\\"\" {ALICE}"));
        assert_eq!(s.namespaces.as_deref(), Some("a \"b\""));
    }

    #[test]
    fn lines_openssh_refuses_are_errors_with_their_line() {
        type Expect = fn(&LineProblem) -> bool;
        let cases: [(&str, Expect); 10] = [
            ("alice", |p| matches!(p, LineProblem::Incomplete)),
            ("alice ssh-ed25519 AAAA", |p| {
                matches!(p, LineProblem::BadKey(_))
            }),
            ("alice bogus-option {K}", |p| {
                matches!(p, LineProblem::UnknownOption(_))
            }),
            ("alice valid-after=20240101Z {K}", |p| {
                matches!(p, LineProblem::Unquoted(_))
            }),
            ("alice valid-after=\"20240101\" {K}", |p| {
                matches!(
                    p,
                    LineProblem::BadTime {
                        source: TimeError::NoZone(_),
                        ..
                    }
                )
            }),
            ("alice namespaces=\"a\",namespaces=\"b\" {K}", |p| {
                matches!(p, LineProblem::Repeated("namespaces"))
            }),
            (
                "alice valid-after=\"20250101Z\",valid-before=\"20240101Z\" {K}",
                |p| matches!(p, LineProblem::EmptyWindow { .. }),
            ),
            ("\"alice {K}", |p| matches!(p, LineProblem::UnclosedQuote)),
            ("al\"ice\" {K}", |p| {
                matches!(p, LineProblem::QuoteInPrincipals(_))
            }),
            ("alice namespaces=\"git\", {K}", |p| {
                matches!(p, LineProblem::UnknownOption(_))
            }),
        ];
        for (line, expected) in cases {
            let text = format!("# ok\n{}\n", line.replace("{K}", ALICE));
            let err = AllowedSigners::parse(&text).unwrap_err();
            assert_eq!(err.line, 2, "{line}");
            assert!(expected(&err.problem), "{line}: {err}");
        }
    }

    #[test]
    fn judging_follows_the_first_allowing_line() {
        let key = PublicKey::from_openssh(ALICE).unwrap();
        let t = |s: &str| Timestamp::parse_openssh(s).unwrap();
        let file = AllowedSigners::parse(&format!(
            "old valid-before=\"20240101Z\" {ALICE}\nnew valid-after=\"20240601Z\" {ALICE}\n"
        ))
        .unwrap();
        let judge = |at: &str| file.judge(key.key_data(), "git", t(at));
        assert_eq!(
            judge("20231231Z"),
            Judgement::Allowed {
                principals: "old".into(),
                line: 1
            }
        );
        assert_eq!(
            judge("20240701Z"),
            Judgement::Allowed {
                principals: "new".into(),
                line: 2
            }
        );
        assert!(matches!(
            judge("20240301Z"),
            Judgement::Refused {
                line: 1,
                reason: Refusal::Expired { .. }
            }
        ));
        // valid-before is inclusive, as in OpenSSH (`verify_time > valid_before`).
        assert!(matches!(
            judge("20240101Z"),
            Judgement::Allowed { line: 1, .. }
        ));
        let ns = AllowedSigners::parse(&format!("x namespaces=\"file,!git\" {ALICE}")).unwrap();
        assert!(matches!(
            ns.judge(key.key_data(), "git", t("20240101Z")),
            Judgement::Refused {
                reason: Refusal::Namespace { .. },
                ..
            }
        ));
        let ca = AllowedSigners::parse(&format!("x cert-authority {ALICE}")).unwrap();
        assert_eq!(
            ca.judge(key.key_data(), "git", t("20240101Z")),
            Judgement::UnknownSigner
        );
        let fp = KeyFingerprint::of(key.key_data());
        assert!(matches!(
            file.judge_fingerprint(&fp, "git", t("20231231Z")),
            Judgement::Allowed { line: 1, .. }
        ));
    }
}
