//! Output formats: the `nix-instantiate --eval` printer (byte for byte) and
//! JSON (as `builtins.toJSON` and `--json`).

use std::fmt::Write;
use std::rc::Rc;

use crate::builtins::sorted_by_name;
use crate::error::{err, ErrorKind, Result};
use crate::eval::Evaluator;
use crate::value::{Attrs, NixStr, StringContext, Sym, Value};
use rustc_hash::FxHashSet;

/// Formats a float as C's `%g` (six significant digits), which is how Nix
/// prints floats.
pub(crate) fn format_float(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let m = trim_zeros(mantissa);
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// How [`quote`] writes one byte of a string.
enum Escape {
    Text(&'static str),
    /// `\u00XX`, as JSON writes control characters.
    Unicode(u8),
}

/// `s` in double quotes, each byte `escape` names replaced. Runs of bytes
/// that need no escape are copied whole; the bytes that do are ASCII, so
/// the runs end on character boundaries.
fn quote(s: &str, out: &mut String, escape: impl Fn(&[u8], usize) -> Option<Escape>) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut copied = 0;
    for i in 0..bytes.len() {
        let Some(e) = escape(bytes, i) else { continue };
        out.push_str(&s[copied..i]);
        match e {
            Escape::Text(t) => out.push_str(t),
            Escape::Unicode(b) => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        copied = i + 1;
    }
    out.push_str(&s[copied..]);
    out.push('"');
}

/// The escapes Nix's printer and JSON share.
fn common_escape(b: u8) -> Option<&'static str> {
    Some(match b {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        _ => return None,
    })
}

pub(crate) fn escape_string(s: &str, out: &mut String) {
    quote(s, out, |bytes, i| match bytes[i] {
        b'$' if bytes.get(i + 1) == Some(&b'{') => Some(Escape::Text("\\$")),
        b => common_escape(b).map(Escape::Text),
    })
}

fn is_bare_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '-'))
}

/// Prints like `nix-instantiate --eval`: values not yet forced show as
/// `<CODE>`, a non-empty set or list seen before as `«repeated»`.
pub(crate) fn print_value(ev: &mut Evaluator, v: &Value) -> Result<String> {
    let mut out = String::new();
    let mut seen = FxHashSet::default();
    print_into(ev, v, &mut out, &mut seen, 0)?;
    Ok(out)
}

fn print_into(
    ev: &mut Evaluator,
    v: &Value,
    out: &mut String,
    seen: &mut FxHashSet<usize>,
    depth: usize,
) -> Result<()> {
    if depth > crate::eval::MAX_EVAL_DEPTH {
        return err(ErrorKind::NestingTooDeep {
            limit: crate::eval::MAX_EVAL_DEPTH,
        });
    }
    ev.make_room(out, 64)?;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::String(s) => {
            ev.make_room(out, s.len() + 2)?;
            escape_string(s, out)
        }
        Value::ContextString(s) => {
            ev.make_room(out, s.text.len() + 2)?;
            escape_string(&s.text, out)
        }
        Value::Path(p) => {
            ev.make_room(out, p.len())?;
            out.push_str(p)
        }
        Value::Attrs(a) => {
            if !a.is_empty() && !seen.insert(Rc::as_ptr(a) as usize) {
                out.push_str("«repeated»");
                return Ok(());
            }
            out.push_str("{ ");
            // By name, borrowing the entries (no copies of names or values).
            let mut entries: Vec<&(Sym, Value)> = a.iter().collect();
            entries.sort_unstable_by(|x, y| ev.sym_name(x.0).cmp(ev.sym_name(y.0)));
            for (sym, value) in entries {
                let name = ev.sym_name(*sym);
                if is_bare_name(name) {
                    out.push_str(name);
                } else {
                    escape_string(name, out);
                }
                out.push_str(" = ");
                print_into(ev, value, out, seen, depth + 1)?;
                out.push_str("; ");
            }
            out.push('}');
        }
        Value::List(l) => {
            if !l.is_empty() && !seen.insert(Rc::as_ptr(l) as usize) {
                out.push_str("«repeated»");
                return Ok(());
            }
            out.push_str("[ ");
            for item in l.iter() {
                print_into(ev, item, out, seen, depth + 1)?;
                out.push(' ');
            }
            out.push(']');
        }
        Value::Lambda(_) => out.push_str("<LAMBDA>"),
        Value::PrimOp(_) => out.push_str("<PRIMOP>"),
        // A builtin the host bound arguments to shows as the builtin.
        Value::PrimOpApp(app) if app.bound_by_host => out.push_str("<PRIMOP>"),
        Value::PrimOpApp(_) => out.push_str("<PRIMOP-APP>"),
        Value::Thunk(t) => match t.done() {
            Some(inner) => print_into(ev, &inner, out, seen, depth)?,
            None => out.push_str("<CODE>"),
        },
    }
    Ok(())
}

fn json_string(s: &str, out: &mut String) {
    quote(s, out, |bytes, i| match common_escape(bytes[i]) {
        Some(text) => Some(Escape::Text(text)),
        None if bytes[i] <= 0x1f => Some(Escape::Unicode(bytes[i])),
        None => None,
    })
}

/// JSON as Nix writes it: forces everything, sets in name order, a set with
/// `__toString` or `outPath` as that string.
pub(crate) fn to_json(
    ev: &mut Evaluator,
    v: &Value,
    context: &mut StringContext,
) -> Result<String> {
    let mut out = String::new();
    let mut ancestors = Ancestors::default();
    json_into(ev, v, &mut out, &mut ancestors)?;
    context.append(&mut ancestors.context);
    Ok(out)
}

/// The sets and lists a value being written sits in: one of them met again
/// inside itself would be written forever. Only those deeper than
/// [`Ancestors::TRACKED_FROM`] are remembered (a cycle goes that deep
/// anyway), so that ordinary values cost no bookkeeping.
#[derive(Default)]
struct Ancestors {
    depth: usize,
    deep: FxHashSet<usize>,
    /// The context of every string written.
    context: StringContext,
    /// The `drvPath`s of derivations already written in full (XML writes
    /// a derivation met again as `<repeated />`, as Nix does).
    drvs_seen: FxHashSet<NixStr>,
}

impl Ancestors {
    const TRACKED_FROM: usize = 1_000;

    /// Enters the forced value `v`: an error if it is one of the sets and
    /// lists it sits in, or if they are too many.
    fn enter(&mut self, v: &Value, format: &'static str) -> Result<Option<usize>> {
        if self.depth >= crate::eval::MAX_EVAL_DEPTH {
            return err(ErrorKind::NestingTooDeep {
                limit: crate::eval::MAX_EVAL_DEPTH,
            });
        }
        self.depth += 1;
        if self.depth < Self::TRACKED_FROM {
            return Ok(None);
        }
        let ptr = match v {
            Value::Attrs(a) => Rc::as_ptr(a) as usize,
            Value::List(l) => Rc::as_ptr(l) as usize,
            _ => return Ok(None),
        };
        if !self.deep.insert(ptr) {
            self.depth -= 1;
            return err(ErrorKind::CyclicValue { format });
        }
        Ok(Some(ptr))
    }

    fn leave(&mut self, entered: Option<usize>) {
        self.depth -= 1;
        if let Some(ptr) = entered {
            self.deep.remove(&ptr);
        }
    }
}

fn json_into(
    ev: &mut Evaluator,
    v: &Value,
    out: &mut String,
    ancestors: &mut Ancestors,
) -> Result<()> {
    let v = ev.force(v.clone())?;
    let entered = ancestors.enter(&v, "JSON")?;
    let written = json_value(ev, &v, out, ancestors);
    ancestors.leave(entered);
    written
}

fn json_value(
    ev: &mut Evaluator,
    v: &Value,
    out: &mut String,
    ancestors: &mut Ancestors,
) -> Result<()> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::String(s) => {
            ev.make_room(out, s.len() + 2)?;
            json_string(s, out)
        }
        Value::ContextString(s) => {
            ev.make_room(out, s.text.len() + 2)?;
            json_string(&s.text, out);
            ancestors.context.extend(s.context.iter().cloned());
        }
        Value::Path(_) => {
            let s = ev.coerce_to_string_ctx(v.clone(), false, true, &mut ancestors.context)?;
            json_string(&s, out);
        }
        Value::Attrs(a) => {
            if a.contains(ev.syms.to_string) {
                let s = ev.coerce_to_string_ctx(v.clone(), false, false, &mut ancestors.context)?;
                ev.make_room(out, s.len() + 2)?;
                json_string(&s, out);
                return Ok(());
            }
            if let Some(p) = a.get(ev.syms.out_path) {
                let p = p.clone();
                return json_into(ev, &p, out, ancestors);
            }
            // Shared values are written once per use: the text can grow
            // exponentially with the size of the value.
            ev.make_room(out, 64)?;
            out.push('{');
            for (i, (name, value)) in sorted_by_name(ev, a).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(&name, out);
                out.push(':');
                json_into(ev, &value, out, ancestors).map_err(|e| {
                    e.push_trace(|| format!("while evaluating attribute '{name}'"), None)
                })?;
            }
            out.push('}');
        }
        Value::List(l) => {
            ev.make_room(out, 64)?;
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_into(ev, item, out, ancestors)?;
            }
            out.push(']');
        }
        Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => {
            return err(ErrorKind::Other {
                message: "cannot convert a function to JSON".into(),
            });
        }
        Value::Thunk(_) => {
            return err(ErrorKind::Other {
                message: "internal error: a forced value is still a thunk".into(),
            });
        }
    }
    Ok(())
}

/// Nix's `isDerivation`: a set whose `type` is the string `"derivation"`.
fn is_derivation(ev: &mut Evaluator, a: &Attrs) -> Result<bool> {
    let Some(kind) = a.get(ev.sym("type")) else {
        return Ok(false);
    };
    let kind = ev.force(kind.clone())?;
    Ok(matches!(kind.as_str(), Some(s) if &**s == "derivation"))
}

/// The text of a set's attribute `name` if it is a string (its context is
/// not taken: Nix shows it without).
fn string_attr(ev: &mut Evaluator, a: &Attrs, name: &str) -> Result<Option<NixStr>> {
    let Some(v) = a.get(ev.sym(name)) else {
        return Ok(None);
    };
    Ok(ev.force(v.clone())?.as_str().cloned())
}

/// A derivation as Nix writes it: `drvPath` and `outPath` shown on the
/// element, its attributes only the first time its `drvPath` is met.
fn xml_derivation(
    ev: &mut Evaluator,
    a: &Attrs,
    out: &mut String,
    indent: usize,
    ancestors: &mut Ancestors,
) -> Result<()> {
    let pad = " ".repeat(indent);
    let drv_path = string_attr(ev, a, "drvPath")?;
    let out_path = string_attr(ev, a, "outPath")?;
    let _ = write!(out, "{pad}<derivation");
    for (key, value) in [("drvPath", &drv_path), ("outPath", &out_path)] {
        if let Some(value) = value {
            let _ = write!(out, " {key}=\"");
            xml_escape(value, out);
            out.push('"');
        }
    }
    out.push_str(">\n");
    let first_time = match drv_path {
        Some(p) if !p.is_empty() => ancestors.drvs_seen.insert(p),
        _ => false,
    };
    if first_time {
        xml_attrs(ev, a, out, indent, ancestors)?;
    } else {
        xml_empty(out, indent + 2, "repeated", &[]);
    }
    let _ = writeln!(out, "{pad}</derivation>");
    Ok(())
}

/// The attributes of a set, each an `<attr>` element, in name order.
fn xml_attrs(
    ev: &mut Evaluator,
    a: &Attrs,
    out: &mut String,
    indent: usize,
    ancestors: &mut Ancestors,
) -> Result<()> {
    let pad = " ".repeat(indent);
    for (name, value) in sorted_by_name(ev, a) {
        let _ = write!(out, "{pad}  <attr name=\"");
        xml_escape(&name, out);
        out.push_str("\">\n");
        xml_into(ev, &value, out, indent + 4, ancestors)?;
        let _ = writeln!(out, "{pad}  </attr>");
    }
    Ok(())
}

fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            '\t' => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
}

fn xml_empty(out: &mut String, indent: usize, tag: &str, attrs: &[(&str, &str)]) {
    out.push_str(&" ".repeat(indent));
    out.push('<');
    out.push_str(tag);
    for (k, v) in attrs {
        let _ = write!(out, " {k}=\"");
        xml_escape(v, out);
        out.push('"');
    }
    out.push_str(" />\n");
}

/// `builtins.toXML`: Nix's XML rendering of a value, forcing all of it.
pub(crate) fn to_xml(ev: &mut Evaluator, v: &Value, context: &mut StringContext) -> Result<String> {
    let mut out = String::from("<?xml version='1.0' encoding='utf-8'?>\n<expr>\n");
    let mut ancestors = Ancestors::default();
    xml_into(ev, v, &mut out, 2, &mut ancestors)?;
    context.append(&mut ancestors.context);
    out.push_str("</expr>\n");
    Ok(out)
}

fn xml_into(
    ev: &mut Evaluator,
    v: &Value,
    out: &mut String,
    indent: usize,
    ancestors: &mut Ancestors,
) -> Result<()> {
    let v = ev.force(v.clone())?;
    let entered = ancestors.enter(&v, "XML")?;
    let written = xml_value(ev, &v, out, indent, ancestors);
    ancestors.leave(entered);
    written
}

fn xml_value(
    ev: &mut Evaluator,
    v: &Value,
    out: &mut String,
    indent: usize,
    ancestors: &mut Ancestors,
) -> Result<()> {
    // Every line is indented: output grows with the square of the nesting.
    ev.make_room(out, 2 * indent + 128)?;
    let pad = " ".repeat(indent);
    match v {
        Value::Null => xml_empty(out, indent, "null", &[]),
        Value::Bool(b) => xml_empty(
            out,
            indent,
            "bool",
            &[("value", if *b { "true" } else { "false" })],
        ),
        Value::Int(i) => xml_empty(out, indent, "int", &[("value", &i.to_string())]),
        Value::Float(f) => xml_empty(out, indent, "float", &[("value", &format_float(*f))]),
        Value::String(s) => {
            ev.make_room(out, s.len())?;
            xml_empty(out, indent, "string", &[("value", s)])
        }
        Value::ContextString(s) => {
            ev.make_room(out, s.text.len())?;
            xml_empty(out, indent, "string", &[("value", &s.text)]);
            ancestors.context.extend(s.context.iter().cloned());
        }
        Value::Path(p) => {
            ev.make_room(out, p.len())?;
            xml_empty(out, indent, "path", &[("value", p)])
        }
        Value::Attrs(a) if is_derivation(ev, a)? => xml_derivation(ev, a, out, indent, ancestors)?,
        Value::Attrs(a) => {
            let _ = writeln!(out, "{pad}<attrs>");
            xml_attrs(ev, a, out, indent, ancestors)?;
            let _ = writeln!(out, "{pad}</attrs>");
        }
        Value::List(l) => {
            let _ = writeln!(out, "{pad}<list>");
            for item in l.iter() {
                xml_into(ev, item, out, indent + 2, ancestors)?;
            }
            let _ = writeln!(out, "{pad}</list>");
        }
        Value::Lambda(c) => {
            let _ = writeln!(out, "{pad}<function>");
            let arg = c.def.arg_name.map(|s| ev.sym_name(s).to_string());
            match &c.def.param {
                crate::ir::Param::Ident => {
                    xml_empty(
                        out,
                        indent + 2,
                        "varpat",
                        &[("name", arg.as_deref().unwrap_or_default())],
                    );
                }
                crate::ir::Param::Pattern {
                    formals, ellipsis, ..
                } => {
                    let mut head = format!("{pad}  <attrspat");
                    if *ellipsis {
                        head.push_str(" ellipsis=\"1\"");
                    }
                    if let Some(a) = &arg {
                        head.push_str(" name=\"");
                        xml_escape(a, &mut head);
                        head.push('"');
                    }
                    let mut names: Vec<String> = formals
                        .iter()
                        .map(|f| ev.sym_name(f.name).to_string())
                        .collect();
                    names.sort();
                    out.push_str(&head);
                    out.push_str(">\n");
                    for n in &names {
                        xml_empty(out, indent + 4, "attr", &[("name", n)]);
                    }
                    let _ = writeln!(out, "{pad}  </attrspat>");
                }
            }
            let _ = writeln!(out, "{pad}</function>");
        }
        Value::PrimOp(_) | Value::PrimOpApp(_) | Value::Thunk(_) => {
            xml_empty(out, indent, "unevaluated", &[])
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_printf_g() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e6), "1e+06");
        assert_eq!(format_float(123456.7), "123457");
        assert_eq!(format_float(1.5e-5), "1.5e-05");
        assert_eq!(format_float(1.0 / 3.0), "0.333333");
        assert_eq!(format_float(1e20), "1e+20");
        assert_eq!(format_float(123456789.0), "1.23457e+08");
        assert_eq!(format_float(-2.5), "-2.5");
    }

    #[test]
    fn strings_escape_like_nix() {
        let mut s = String::new();
        escape_string("a${b}\n\t\"\\$x", &mut s);
        assert_eq!(s, r#""a\${b}\n\t\"\\$x""#);
        assert!(is_bare_name("a-b'"));
        assert!(!is_bare_name("1a"));
        assert!(!is_bare_name(""));
    }
}
