//! `derivationStrict` (`libexpr/primops.cc` of Nix 2.8): from a set of
//! attributes to a store derivation, its `.drv` path and output paths.
//!
//! It runs in two steps so an evaluator can own the values and the
//! [`KnownPaths`] without borrowing both at once:
//! 1. [`DrvInputs::collect`] reads the attributes through [`DrvAttr`], in
//!    Nix's order and with Nix's coercions, and gathers the environment,
//!    the arguments, the outputs and the string context;
//! 2. [`KnownPaths::instantiate`] turns the context into input
//!    derivations and sources, computes the output paths and the `.drv`,
//!    and records the derivation.

use std::collections::{BTreeMap, BTreeSet};

use crate::context::{ContextElem, StringContext};
use crate::derivation::{Derivation, DerivationOutput};
use crate::hash::{Hash, HashAlgo, HashError};
use crate::known::{KnownError, KnownPaths};
use crate::store_path::{IngestionMethod, StorePath, StorePathError};

/// One attribute value of a derivation, evaluated on demand by the host
/// evaluator with Nix's semantics.
pub trait DrvAttr: Sized {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Forces the value: is it `null`? (`__ignoreNulls`)
    fn is_null(&mut self) -> Result<bool, Self::Error>;
    /// `forceBool`.
    fn force_bool(&mut self) -> Result<bool, Self::Error>;
    /// `coerceToString(coerceMore = true, copyToStore = true)`: strings
    /// with their context, paths copied to the store, sets through
    /// `__toString` or `outPath`, `true` as `1`, `false` and `null` as
    /// nothing, numbers printed, lists joined by spaces.
    fn coerce_to_string(&mut self, context: &mut StringContext) -> Result<String, Self::Error>;
    /// `forceString`: a string, its context added to `context`.
    fn force_string(&mut self, context: &mut StringContext) -> Result<String, Self::Error>;
    /// `forceStringNoCtx`: a string without context.
    fn force_string_no_context(&mut self) -> Result<String, Self::Error>;
    /// `forceList`: the elements.
    fn force_list(&mut self) -> Result<Vec<Self>, Self::Error>;
    /// `printValueAsJSON(strict = true, copyToStore = true)`, context added.
    fn to_json(&mut self, context: &mut StringContext) -> Result<String, Self::Error>;
}

/// Why a derivation could not be made; the messages are Nix's.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError<E: std::error::Error + 'static> {
    #[error("attribute 'name' missing")]
    MissingName,
    #[error("while evaluating the derivation attribute 'name'")]
    Name(#[source] E),
    #[error("while evaluating the attribute '{attr}' of the derivation '{drv}'")]
    Attribute {
        attr: String,
        drv: String,
        #[source]
        source: AttrError<E>,
    },
    #[error(transparent)]
    Value(E),
    #[error("required attribute 'builder' missing")]
    MissingBuilder,
    #[error("required attribute 'system' missing")]
    MissingSystem,
    #[error("derivation names are not allowed to end in '.drv'")]
    DrvExtension,
    #[error("the system '{0}' contains '\\' or '\"', which Nix writes unescaped into the .drv file and then refuses to read back")]
    UnreadableSystem(String),
    #[error("multiple outputs are not supported in fixed-output derivations")]
    FixedMultipleOutputs,
    #[error("invalid 'outputHash'")]
    Hash(#[source] HashError),
    #[error("invalid derivation name")]
    StorePath(#[source] StorePathError),
    #[error(transparent)]
    Known(#[from] KnownError),
}

/// Why one attribute of a derivation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttrError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Value(E),
    #[error("invalid value '{0}' for 'outputHashMode' attribute")]
    HashMode(String),
    #[error("duplicate derivation output '{0}'")]
    DuplicateOutput(String),
    #[error("invalid derivation output name 'drv'")]
    OutputNamedDrv,
    #[error("derivation cannot have an empty set of outputs")]
    NoOutputs,
    #[error("experimental Nix feature '{0}' is disabled; eka builds with Nix's default features")]
    Experimental(&'static str),
}

/// Everything `derivationStrict` reads from the attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrvInputs {
    pub name: String,
    pub builder: String,
    pub platform: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub outputs: BTreeSet<String>,
    pub output_hash: Option<String>,
    pub output_hash_algo: String,
    pub output_hash_mode: Option<IngestionMethod>,
    /// The context of every string that went into the derivation.
    pub context: StringContext,
}

/// A derivation `derivationStrict` made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instantiated {
    pub drv_path: StorePath,
    /// Each output's path.
    pub outputs: BTreeMap<String, StorePath>,
    /// Nix's warnings (an empty `outputHash`).
    pub warnings: Vec<String>,
}

impl Instantiated {
    /// The context of the `drvPath` attribute.
    pub fn drv_path_context(&self) -> ContextElem {
        ContextElem::DrvDeep(self.drv_path.clone())
    }

    /// The context of an output's attribute (and of `outPath` for the
    /// first output).
    pub fn output_context(&self, output: &str) -> ContextElem {
        ContextElem::Built {
            drv: self.drv_path.clone(),
            output: output.to_owned(),
        }
    }
}

const IGNORE_NULLS: &str = "__ignoreNulls";
const STRUCTURED_ATTRS: &str = "__structuredAttrs";

/// Both steps at once, for hosts whose values do not need `known`.
pub fn derivation_strict<V: DrvAttr>(
    known: &mut KnownPaths,
    attrs: Vec<(String, V)>,
) -> Result<Instantiated, DeriveError<V::Error>> {
    let inputs = DrvInputs::collect(attrs)?;
    known.instantiate(inputs)
}

impl DrvInputs {
    /// Reads the attributes as `derivationStrict` does: `name` first, then
    /// `__structuredAttrs` and `__ignoreNulls`, then every attribute in
    /// lexicographic order.
    pub fn collect<V: DrvAttr>(
        mut attrs: Vec<(String, V)>,
    ) -> Result<DrvInputs, DeriveError<V::Error>> {
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        let find = |attrs: &[(String, V)], name: &str| attrs.iter().position(|(n, _)| n == name);
        let name_at = find(&attrs, "name").ok_or(DeriveError::MissingName)?;
        let name = attrs[name_at]
            .1
            .force_string_no_context()
            .map_err(DeriveError::Name)?;
        let structured = match find(&attrs, STRUCTURED_ATTRS) {
            Some(i) => attrs[i].1.force_bool().map_err(DeriveError::Value)?,
            None => false,
        };
        let ignore_nulls = match find(&attrs, IGNORE_NULLS) {
            Some(i) => attrs[i].1.force_bool().map_err(DeriveError::Value)?,
            None => false,
        };
        let mut inputs = DrvInputs {
            name,
            outputs: ["out".to_owned()].into(),
            ..DrvInputs::default()
        };
        let mut json: Option<Vec<(String, String)>> = structured.then(Vec::new);
        for (key, mut value) in attrs {
            if key == IGNORE_NULLS {
                continue;
            }
            inputs
                .attribute(&key, &mut value, ignore_nulls, json.as_mut())
                .map_err(|source| DeriveError::Attribute {
                    attr: key.clone(),
                    drv: inputs.name.clone(),
                    source,
                })?;
        }
        if let Some(json) = json {
            inputs.env.insert("__json".to_owned(), json_object(&json));
        }
        Ok(inputs)
    }

    fn attribute<V: DrvAttr>(
        &mut self,
        key: &str,
        value: &mut V,
        ignore_nulls: bool,
        json: Option<&mut Vec<(String, String)>>,
    ) -> Result<(), AttrError<V::Error>> {
        let value_error = AttrError::Value;
        if ignore_nulls && value.is_null().map_err(value_error)? {
            return Ok(());
        }
        match key {
            "__contentAddressed" => experimental(value, "ca-derivations"),
            "__impure" => experimental(value, "impure-derivations"),
            "args" => {
                for mut elem in value.force_list().map_err(value_error)? {
                    let arg = elem
                        .coerce_to_string(&mut self.context)
                        .map_err(value_error)?;
                    self.args.push(arg);
                }
                Ok(())
            }
            _ => match json {
                Some(json) => self.structured_attribute(key, value, json),
                None => self.env_attribute(key, value),
            },
        }
    }

    fn env_attribute<V: DrvAttr>(
        &mut self,
        key: &str,
        value: &mut V,
    ) -> Result<(), AttrError<V::Error>> {
        let s = value
            .coerce_to_string(&mut self.context)
            .map_err(AttrError::Value)?;
        self.env.entry(key.to_owned()).or_insert_with(|| s.clone());
        match key {
            "builder" => self.builder = s,
            "system" => self.platform = s,
            "outputHash" => self.output_hash = Some(s),
            "outputHashAlgo" => self.output_hash_algo = s,
            "outputHashMode" => self.output_hash_mode = Some(hash_mode(&s)?),
            "outputs" => {
                self.set_outputs(s.split([' ', '\t', '\n', '\r']).filter(|t| !t.is_empty()))?
            }
            _ => {}
        }
        Ok(())
    }

    fn structured_attribute<V: DrvAttr>(
        &mut self,
        key: &str,
        value: &mut V,
        json: &mut Vec<(String, String)>,
    ) -> Result<(), AttrError<V::Error>> {
        if key == STRUCTURED_ATTRS {
            return Ok(());
        }
        let value_error = AttrError::Value;
        json.push((
            key.to_owned(),
            value.to_json(&mut self.context).map_err(value_error)?,
        ));
        match key {
            "builder" => {
                self.builder = value.force_string(&mut self.context).map_err(value_error)?
            }
            "system" => self.platform = value.force_string_no_context().map_err(value_error)?,
            "outputHash" => {
                self.output_hash = Some(value.force_string_no_context().map_err(value_error)?)
            }
            "outputHashAlgo" => {
                self.output_hash_algo = value.force_string_no_context().map_err(value_error)?
            }
            "outputHashMode" => {
                let mode = value.force_string_no_context().map_err(value_error)?;
                self.output_hash_mode = Some(hash_mode(&mode)?);
            }
            "outputs" => {
                let mut names = Vec::new();
                for mut elem in value.force_list().map_err(value_error)? {
                    names.push(elem.force_string_no_context().map_err(value_error)?);
                }
                self.set_outputs(names.iter().map(String::as_str))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn set_outputs<'a, E: std::error::Error>(
        &mut self,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), AttrError<E>> {
        self.outputs.clear();
        for name in names {
            if self.outputs.contains(name) {
                return Err(AttrError::DuplicateOutput(name.to_owned()));
            }
            if name == "drv" {
                return Err(AttrError::OutputNamedDrv);
            }
            self.outputs.insert(name.to_owned());
        }
        if self.outputs.is_empty() {
            return Err(AttrError::NoOutputs);
        }
        Ok(())
    }
}

fn experimental<V: DrvAttr>(
    value: &mut V,
    feature: &'static str,
) -> Result<(), AttrError<V::Error>> {
    match value.force_bool().map_err(AttrError::Value)? {
        true => Err(AttrError::Experimental(feature)),
        false => Ok(()),
    }
}

fn hash_mode<E: std::error::Error>(mode: &str) -> Result<IngestionMethod, AttrError<E>> {
    match mode {
        "recursive" => Ok(IngestionMethod::Recursive),
        "flat" => Ok(IngestionMethod::Flat),
        other => Err(AttrError::HashMode(other.to_owned())),
    }
}

/// `{"key":value,...}` as Nix's `JSONObject` writes it (no spaces).
fn json_object(members: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(key));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// A JSON string as Nix 2.8 writes one (`toJSON<std::string_view>`):
/// `"` and `\` escaped, `\n \r \t` by name, other bytes below 0x20 as
/// `\u00XX`, everything else as is.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl KnownPaths {
    /// The second step of `derivationStrict`: the context becomes inputs,
    /// the outputs get their paths, and the derivation is recorded.
    pub fn instantiate<E: std::error::Error>(
        &mut self,
        inputs: DrvInputs,
    ) -> Result<Instantiated, DeriveError<E>> {
        let mut drv = Derivation {
            name: inputs.name,
            outputs: BTreeMap::new(),
            input_drvs: BTreeMap::new(),
            input_srcs: BTreeSet::new(),
            platform: inputs.platform,
            builder: inputs.builder,
            args: inputs.args,
            env: inputs.env,
        };
        self.add_context_inputs(&mut drv, &inputs.context)?;
        if drv.builder.is_empty() {
            return Err(DeriveError::MissingBuilder);
        }
        if drv.platform.is_empty() {
            return Err(DeriveError::MissingSystem);
        }
        if drv.name.ends_with(".drv") {
            return Err(DeriveError::DrvExtension);
        }
        if drv.platform.contains(['\\', '"']) {
            return Err(DeriveError::UnreadableSystem(drv.platform));
        }
        let mut warnings = Vec::new();
        match inputs.output_hash {
            Some(hash) => {
                let fixed = FixedOutput {
                    hash: &hash,
                    algo: &inputs.output_hash_algo,
                    mode: inputs.output_hash_mode,
                };
                self.set_fixed_output(&mut drv, &inputs.outputs, fixed, &mut warnings)?
            }
            None => self.set_input_addressed_outputs(&mut drv, &inputs.outputs)?,
        }
        let outputs = drv
            .outputs
            .keys()
            .map(|name| {
                let path = drv.output_path(name).expect("outputs have paths now");
                (name.clone(), path.clone())
            })
            .collect();
        let drv_path = self.add_derivation(drv)?;
        Ok(Instantiated {
            drv_path,
            outputs,
            warnings,
        })
    }

    /// Each context element as an input: a plain path is a source; an
    /// output is an input derivation's output; a `drvPath` brings the
    /// derivation's whole closure, every derivation in it with all its
    /// outputs (and each path as a source too, as Nix does).
    fn add_context_inputs(
        &self,
        drv: &mut Derivation,
        context: &StringContext,
    ) -> Result<(), KnownError> {
        for elem in context {
            match elem {
                ContextElem::Plain(path) => {
                    self.check_known(path)?;
                    drv.input_srcs.insert(path.clone());
                }
                ContextElem::Built { drv: input, output } => {
                    self.check_known(input)?;
                    drv.input_drvs
                        .entry(input.clone())
                        .or_default()
                        .insert(output.clone());
                }
                ContextElem::DrvDeep(root) => {
                    for path in self.closure(std::slice::from_ref(root))? {
                        if let Some(input) = self.derivation(&path) {
                            let outputs = input.outputs.keys().cloned().collect();
                            drv.input_drvs.insert(path.clone(), outputs);
                        }
                        drv.input_srcs.insert(path);
                    }
                }
            }
        }
        Ok(())
    }

    fn set_fixed_output<E: std::error::Error>(
        &self,
        drv: &mut Derivation,
        outputs: &BTreeSet<String>,
        fixed: FixedOutput<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<(), DeriveError<E>> {
        if outputs.len() != 1 || !outputs.contains("out") {
            return Err(DeriveError::FixedMultipleOutputs);
        }
        let algo = HashAlgo::parse(fixed.algo);
        let hash = Hash::parse_allow_empty(fixed.hash, algo).map_err(DeriveError::Hash)?;
        if fixed.hash.is_empty() {
            warnings.push(format!("found empty hash, assuming '{}'", hash.to_sri()));
        }
        let method = fixed.mode.unwrap_or(IngestionMethod::Flat);
        let path = self
            .store_dir()
            .make_fixed_output_path(method, &hash, &drv.name, &BTreeSet::new(), false)
            .map_err(DeriveError::StorePath)?;
        drv.env
            .insert("out".to_owned(), self.store_dir().print(&path));
        drv.outputs.insert(
            "out".to_owned(),
            DerivationOutput::Fixed { method, hash, path },
        );
        Ok(())
    }

    /// The outputs' paths from the hash of the derivation with them masked
    /// (empty paths and empty variables), so that the set of output names
    /// is part of the hash.
    fn set_input_addressed_outputs<E: std::error::Error>(
        &self,
        drv: &mut Derivation,
        outputs: &BTreeSet<String>,
    ) -> Result<(), DeriveError<E>> {
        for output in outputs {
            drv.env.insert(output.clone(), String::new());
            drv.outputs
                .insert(output.clone(), DerivationOutput::Deferred);
        }
        let hashes = self.hash_modulo(drv, true)?;
        for output in outputs {
            let path = self
                .store_dir()
                .make_output_path(output, &hashes[output], &drv.name)
                .map_err(DeriveError::StorePath)?;
            drv.env
                .insert(output.clone(), self.store_dir().print(&path));
            drv.outputs
                .insert(output.clone(), DerivationOutput::InputAddressed(path));
        }
        Ok(())
    }
}

struct FixedOutput<'a> {
    hash: &'a str,
    algo: &'a str,
    mode: Option<IngestionMethod>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::Value;

    fn attrs(extra: Vec<(&str, Value)>) -> Vec<(String, Value)> {
        let mut all = vec![
            ("name".to_owned(), Value::str("x")),
            ("system".to_owned(), Value::str("x86_64-linux")),
            ("builder".to_owned(), Value::str("/bin/sh")),
        ];
        all.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        all
    }

    #[test]
    fn a_context_the_evaluation_never_produced_is_refused() {
        let mut known = KnownPaths::default();
        let stranger =
            StorePath::from_base_name("ffffffffffffffffffffffffffffffff-stranger").unwrap();
        let text = known.store_dir().print(&stranger);
        for elem in [
            ContextElem::Plain(stranger.clone()),
            ContextElem::DrvDeep(stranger.clone()),
            ContextElem::Built {
                drv: stranger.clone(),
                output: "out".into(),
            },
        ] {
            let value = Value::String {
                text: text.clone(),
                context: [elem].into(),
            };
            let err = derivation_strict(&mut known, attrs(vec![("src", value)])).unwrap_err();
            assert!(
                matches!(&err, DeriveError::Known(KnownError::Unknown(p)) if *p == text),
                "{err}"
            );
        }
        assert!(
            known.is_empty(),
            "nothing is recorded for a refused derivation"
        );
    }

    #[test]
    fn an_empty_output_list_is_refused() {
        let err = DrvInputs::collect(attrs(vec![("outputs", Value::str(" \t\n"))])).unwrap_err();
        assert!(matches!(
            err,
            DeriveError::Attribute {
                source: AttrError::NoOutputs,
                ..
            }
        ));
    }

    #[test]
    fn an_empty_output_hash_is_the_zero_hash_with_nix_warning() {
        let mut known = KnownPaths::default();
        let made = derivation_strict(
            &mut known,
            attrs(vec![
                ("outputHash", Value::str("")),
                ("outputHashAlgo", Value::str("sha256")),
            ]),
        )
        .unwrap();
        assert_eq!(
            made.warnings,
            ["found empty hash, assuming 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='"]
        );
    }
}
