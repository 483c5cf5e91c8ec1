//! Nix's `match` and `split` take POSIX extended regular expressions. The
//! `regex` crate's syntax is close; this rewrites the spots that differ:
//! inside a bracket expression a backslash and `[` are literal in POSIX,
//! while `regex` treats them as escapes, nested classes or set operators.

pub(crate) fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            out.push(c);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c != '[' {
            if c == '{' && !starts_repetition(&chars[i + 1..]) {
                out.push_str("\\{");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        // A bracket expression: copy it, escaping what Rust would interpret.
        out.push('[');
        i += 1;
        if i < chars.len() && chars[i] == '^' {
            out.push('^');
            i += 1;
        }
        if i < chars.len() && chars[i] == ']' {
            out.push_str("\\]");
            i += 1;
        }
        while i < chars.len() && chars[i] != ']' {
            let c = chars[i];
            if c == '[' && i + 1 < chars.len() && matches!(chars[i + 1], ':' | '.' | '=') {
                // [:alpha:] and friends pass through unchanged.
                let close = chars[i + 1];
                let mut j = i + 2;
                while j + 1 < chars.len() && !(chars[j] == close && chars[j + 1] == ']') {
                    j += 1;
                }
                let end = (j + 2).min(chars.len());
                out.extend(&chars[i..end]);
                i = end;
                continue;
            }
            match c {
                '\\' | '[' | '&' | '~' | '|' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
            i += 1;
        }
        if i < chars.len() {
            out.push(']');
            i += 1;
        }
    }
    out
}

fn starts_repetition(rest: &[char]) -> bool {
    let mut seen_digit = false;
    for c in rest {
        match c {
            '0'..='9' => seen_digit = true,
            ',' => {}
            '}' => return seen_digit,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn bracket_backslash_is_literal() {
        let re = regex::Regex::new(&translate(r"[\]+")).unwrap();
        assert!(re.is_match(r"a\b"));
        let re = regex::Regex::new(&translate(r"[[:alpha:]_]+")).unwrap();
        assert!(re.is_match("ab_"));
        let re = regex::Regex::new(&translate(r"[]a]")).unwrap();
        assert!(re.is_match("]"));
        assert_eq!(translate("a{2}"), "a{2}");
        assert_eq!(translate("a{"), "a\\{");
    }
}
