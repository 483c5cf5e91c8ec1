//! OpenSSH's patterns (`match.c`): `*` matches any run of characters, `?`
//! any one character, everything else itself; a pattern list is
//! comma-separated, and a pattern starting with `!` negates.

/// Whether `text` matches `pattern` (OpenSSH's `match_pattern`).
pub fn matches(text: &str, pattern: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    // Classic wildcard matching with one backtrack point for the last `*`.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) && p[pi] != '*' {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// How `text` fares against a pattern list (OpenSSH's `match_pattern_list`,
/// case-sensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMatch {
    /// A negated pattern matched: refused whatever else matches.
    Negated,
    NoMatch,
    Matched,
}

pub fn matches_list(text: &str, list: &str) -> ListMatch {
    let mut positive = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if matches(text, pattern) {
            if negated {
                return ListMatch::Negated;
            }
            positive = true;
        }
    }
    if positive {
        ListMatch::Matched
    } else {
        ListMatch::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("git", "git"));
        assert!(matches("git", "g*"));
        assert!(matches("git", "*"));
        assert!(matches("", "*"));
        assert!(matches("", ""));
        assert!(!matches("x", ""));
        assert!(matches("git", "g?t"));
        assert!(!matches("gt", "g?t"));
        assert!(matches("alice@example.com", "*@example.com"));
        assert!(!matches("alice@example.org", "*@example.com"));
        assert!(matches("aaab", "*a*b"));
        assert!(!matches("aaa", "*a*b"));
    }

    #[test]
    fn lists_with_negation() {
        assert_eq!(matches_list("git", "file,git"), ListMatch::Matched);
        assert_eq!(matches_list("git", "file"), ListMatch::NoMatch);
        assert_eq!(matches_list("git", "*,!git"), ListMatch::Negated);
        assert_eq!(matches_list("file", "*,!git"), ListMatch::Matched);
    }
}
