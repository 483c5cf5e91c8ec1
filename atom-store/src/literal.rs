//! Plain, already-evaluated values with Nix's coercion rules: a
//! [`DrvAttr`] for hosts without an evaluator (and for the tests, which
//! describe in Rust what a Nix expression passes to `derivation`).
//! Functions and paths are not values here: a path is passed as the
//! string of its store path with its context.

use std::collections::BTreeMap;

use crate::context::StringContext;
use crate::derive::{json_string, DrvAttr};

/// A value as `derivationStrict` sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String {
        text: String,
        context: StringContext,
    },
    List(Vec<Value>),
    Attrs(BTreeMap<String, Value>),
}

/// A value of the wrong type for what was asked of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("value is {found} while {expected} was expected")]
    Type {
        found: &'static str,
        expected: &'static str,
    },
    #[error("cannot coerce {0} to a string")]
    Coerce(&'static str),
    #[error("the string '{0}' is not allowed to refer to a store path")]
    HasContext(String),
}

impl Value {
    /// A string without context.
    pub fn str(text: impl Into<String>) -> Value {
        Value::String {
            text: text.into(),
            context: StringContext::new(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a Boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String { .. } => "a string",
            Value::List(_) => "a list",
            Value::Attrs(_) => "a set",
        }
    }

    fn wrong_type(&self, expected: &'static str) -> ValueError {
        ValueError::Type {
            found: self.type_name(),
            expected,
        }
    }

    fn coerce(&self, context: &mut StringContext) -> Result<String, ValueError> {
        match self {
            Value::String { text, context: own } => {
                context.extend(own.iter().cloned());
                Ok(text.clone())
            }
            Value::Attrs(attrs) => match attrs.get("outPath") {
                Some(out_path) => out_path.coerce(context),
                None => Err(ValueError::Coerce("a set")),
            },
            Value::Bool(true) => Ok("1".to_owned()),
            Value::Bool(false) | Value::Null => Ok(String::new()),
            Value::Int(i) => Ok(i.to_string()),
            // C++ `std::to_string(double)`: `%f`.
            Value::Float(f) => Ok(format!("{f:.6}")),
            Value::List(items) => {
                let mut out = String::new();
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&item.coerce(context)?);
                    // Nix's quirk: no space after an empty list.
                    let empty_list = matches!(item, Value::List(l) if l.is_empty());
                    if i + 1 < items.len() && !empty_list {
                        out.push(' ');
                    }
                }
                Ok(out)
            }
        }
    }

    fn json(&self, context: &mut StringContext) -> Result<String, ValueError> {
        Ok(match self {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_g(*f),
            Value::String { text, context: own } => {
                context.extend(own.iter().cloned());
                json_string(text)
            }
            Value::List(items) => {
                let items: Result<Vec<_>, _> = items.iter().map(|v| v.json(context)).collect();
                format!("[{}]", items?.join(","))
            }
            Value::Attrs(attrs) => match attrs.get("outPath") {
                Some(out_path) => out_path.json(context)?,
                None => {
                    let mut members = Vec::new();
                    for (key, value) in attrs {
                        members.push(format!("{}:{}", json_string(key), value.json(context)?));
                    }
                    format!("{{{}}}", members.join(","))
                }
            },
        })
    }
}

/// C++ `ostream << double` with the default precision: `%g` with 6
/// significant digits.
fn format_g(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let sci = format!("{f:.5e}");
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is a number");
    if !(-4..6).contains(&exponent) {
        let mantissa = strip_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (5 - exponent).max(0) as usize;
        strip_zeros(&format!("{f:.decimals$}")).to_owned()
    }
}

fn strip_zeros(number: &str) -> &str {
    match number.contains('.') {
        true => number.trim_end_matches('0').trim_end_matches('.'),
        false => number,
    }
}

impl DrvAttr for Value {
    type Error = ValueError;

    fn is_null(&mut self) -> Result<bool, ValueError> {
        Ok(matches!(self, Value::Null))
    }

    fn force_bool(&mut self) -> Result<bool, ValueError> {
        match self {
            Value::Bool(b) => Ok(*b),
            other => Err(other.wrong_type("a Boolean")),
        }
    }

    fn coerce_to_string(&mut self, context: &mut StringContext) -> Result<String, ValueError> {
        self.coerce(context)
    }

    fn force_string(&mut self, context: &mut StringContext) -> Result<String, ValueError> {
        match self {
            Value::String { text, context: own } => {
                context.extend(own.iter().cloned());
                Ok(text.clone())
            }
            other => Err(other.wrong_type("a string")),
        }
    }

    fn force_string_no_context(&mut self) -> Result<String, ValueError> {
        match self {
            Value::String { text, context } if context.is_empty() => Ok(text.clone()),
            Value::String { text, .. } => Err(ValueError::HasContext(text.clone())),
            other => Err(other.wrong_type("a string")),
        }
    }

    fn force_list(&mut self) -> Result<Vec<Value>, ValueError> {
        match self {
            Value::List(items) => Ok(items.clone()),
            other => Err(other.wrong_type("a list")),
        }
    }

    fn to_json(&mut self, context: &mut StringContext) -> Result<String, ValueError> {
        self.json(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_cpp_does() {
        assert_eq!(format_g(1.5), "1.5");
        assert_eq!(format_g(0.1), "0.1");
        assert_eq!(format_g(123456789.0), "1.23457e+08");
        assert_eq!(format_g(1e-5), "1e-05");
        assert_eq!(format_g(100000.0), "100000");
        assert_eq!(format_g(-2.25), "-2.25");
        let mut ctx = StringContext::new();
        assert_eq!(Value::Float(1.5).coerce(&mut ctx).unwrap(), "1.500000");
    }

    #[test]
    fn lists_join_with_nix_quirk() {
        let mut ctx = StringContext::new();
        let list = Value::List(vec![
            Value::Int(1),
            Value::List(vec![]),
            Value::Bool(true),
            Value::Null,
            Value::str("x"),
        ]);
        assert_eq!(list.coerce(&mut ctx).unwrap(), "1 1  x");
    }
}
