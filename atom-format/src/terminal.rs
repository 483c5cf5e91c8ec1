//! Text from remotes made safe to print on a terminal.
//!
//! A manifest, a ref name or a server's message is chosen by whoever
//! publishes or serves it. Printed raw, its control characters would be
//! commands to the user's terminal: ESC sequences that set the window
//! title, recolour or clear the screen, rewrite earlier lines or (on some
//! terminals) answer back; a carriage return that overprints a line; C1
//! controls (U+0080–U+009F), which some terminals take as ESC sequences
//! too; and bidirectional overrides (U+202A–U+202E, U+2066–U+2069), which
//! make text display in another order than it reads ("Trojan Source").
//! Every such character is shown escaped instead, as Rust writes it
//! (`\u{1b}`), so what the user sees is what the text holds.

use std::borrow::Cow;

/// `text` with every character a terminal would act on escaped (see the
/// [module documentation](self)); line feeds and tabs are kept, for text
/// that spans lines (a manifest).
pub fn escape_text(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// [`escape_text`] for text printed on one line (a label, a ref, a
/// message): line feeds and tabs are escaped too.
pub fn escape_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) && !keep(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// C0 and C1 controls, DEL, and the bidirectional embeddings, overrides
/// and isolates.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped() {
        // OSC 0 (window title), SGR (colour), CSI 2J (clear), CR, BEL,
        // C1 CSI, DEL, a right-to-left override.
        let hostile = "a\u{1b}]0;owned\u{7}b\u{1b}[31mred\u{1b}[2J\rover\u{9b}1m\u{7f}\u{202e}txt";
        assert_eq!(
            escape_text(hostile),
            "a\\u{1b}]0;owned\\u{7}b\\u{1b}[31mred\\u{1b}[2J\\u{d}over\\u{9b}1m\\u{7f}\\u{202e}txt"
        );
        assert_eq!(escape_line("x\ny\tz"), "x\\u{a}y\\u{9}z");
        assert_eq!(escape_text("x\ny\tz"), "x\ny\tz");
        // Ordinary text, in any script, is borrowed unchanged.
        let plain = "[package]\nlabel = \"f\u{43e}o\" # caf\u{e9} \u{1f600}\n";
        assert!(matches!(escape_text(plain), Cow::Borrowed(_)));
    }

    /// Nothing that reaches the terminal holds a control character but
    /// line feeds and tabs, whatever the input.
    #[test]
    fn no_control_survives() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let line = escape_line(&all);
        assert!(!line.chars().any(is_unsafe), "{line}");
        let text = escape_text(&all);
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t'));
    }
}
