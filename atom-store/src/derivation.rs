//! Store derivations: the `.drv` file (ATerm) and `hashDerivationModulo`,
//! as `libstore/derivations.cc` of Nix 2.8 writes and computes them.

use std::collections::{BTreeMap, BTreeSet};

use crate::hash::{Base, Hash, HashAlgo};
use crate::store_path::{output_path_name, IngestionMethod, StoreDir, StorePath, StorePathError};

/// A store derivation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derivation {
    /// The name (`<name>.drv` is the file's name; outputs are named after it).
    pub name: String,
    pub outputs: BTreeMap<String, DerivationOutput>,
    /// Derivations this one needs, with the outputs it needs of each.
    pub input_drvs: BTreeMap<StorePath, BTreeSet<String>>,
    /// Store paths this one needs as they are (sources, texts).
    pub input_srcs: BTreeSet<StorePath>,
    /// `system`.
    pub platform: String,
    pub builder: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// How an output's path is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DerivationOutput {
    /// The path follows from the derivation's hash modulo (the usual case).
    InputAddressed(StorePath),
    /// A fixed-output derivation's output: the path follows from the hash
    /// the content must have.
    Fixed { method: IngestionMethod, hash: Hash },
    /// Not yet known: an input-addressed output while its derivation's
    /// hash is being computed (printed with an empty path).
    Deferred,
}

/// The hash of each output of a derivation (`DrvHash`): what stands for
/// the derivation in the `.drv` of a derivation that uses it.
pub type OutputHashes = BTreeMap<String, Hash>;

impl DerivationOutput {
    /// `<method><algo>` as in a `.drv` (`r:sha256`), for fixed outputs.
    fn method_algo(method: IngestionMethod, hash: &Hash) -> String {
        format!("{}{}", method.prefix(), hash.algo())
    }
}

impl Derivation {
    /// Whether this is a fixed-output derivation.
    pub fn is_fixed_output(&self) -> bool {
        self.outputs
            .values()
            .any(|o| matches!(o, DerivationOutput::Fixed { .. }))
    }

    /// The store path of an output, when known.
    pub fn output_path(
        &self,
        store_dir: &StoreDir,
        output: &str,
    ) -> Result<Option<StorePath>, StorePathError> {
        match self.outputs.get(output) {
            Some(DerivationOutput::InputAddressed(path)) => Ok(Some(path.clone())),
            Some(DerivationOutput::Fixed { method, hash }) => store_dir
                .make_fixed_output_path(
                    *method,
                    hash,
                    &output_path_name(&self.name, output),
                    &BTreeSet::new(),
                    false,
                )
                .map(Some),
            Some(DerivationOutput::Deferred) | None => Ok(None),
        }
    }

    /// The references of the `.drv` file: its input sources and input
    /// derivations (not its outputs).
    pub fn references(&self) -> BTreeSet<StorePath> {
        let mut refs = self.input_srcs.clone();
        refs.extend(self.input_drvs.keys().cloned());
        refs
    }

    /// The `.drv` file's text (`Derivation::unparse(store, false)`).
    pub fn to_aterm(&self, store_dir: &StoreDir) -> Result<String, StorePathError> {
        self.unparse(store_dir, false, None)
    }

    /// The `.drv` file's store path: a text path named `<name>.drv` whose
    /// references are [`Derivation::references`].
    pub fn store_path(&self, store_dir: &StoreDir) -> Result<StorePath, StorePathError> {
        let text = self.to_aterm(store_dir)?;
        store_dir.make_text_path(
            &format!("{}.drv", self.name),
            text.as_bytes(),
            &self.references(),
        )
    }

    /// Nix's `hashDerivationModulo(drv, maskOutputs)`. A fixed-output
    /// derivation hashes to its output hash (so how it is fetched does not
    /// matter to what depends on it); any other hashes its ATerm with each
    /// input derivation replaced by that input's hash, which
    /// `input_hashes` looks up (Nix memoises them by `.drv` path).
    pub fn hash_modulo<E>(
        &self,
        store_dir: &StoreDir,
        mask_outputs: bool,
        mut input_hashes: impl FnMut(&StorePath) -> Result<OutputHashes, E>,
    ) -> Result<OutputHashes, HashModuloError<E>> {
        if self.is_fixed_output() {
            return self.fixed_output_hashes(store_dir);
        }
        let mut inputs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (drv_path, wanted) in &self.input_drvs {
            let hashes = input_hashes(drv_path).map_err(HashModuloError::Input)?;
            for output in wanted {
                let hash = hashes
                    .get(output)
                    .ok_or_else(|| HashModuloError::NoSuchOutput {
                        drv: drv_path.clone(),
                        output: output.clone(),
                    })?;
                inputs
                    .entry(hash.to_base16())
                    .or_default()
                    .insert(output.clone());
            }
        }
        let text = self.unparse(store_dir, mask_outputs, Some(&inputs))?;
        let hash = Hash::digest(HashAlgo::Sha256, text.as_bytes());
        Ok(self
            .outputs
            .keys()
            .map(|o| (o.clone(), hash.clone()))
            .collect())
    }

    fn fixed_output_hashes<E>(
        &self,
        store_dir: &StoreDir,
    ) -> Result<OutputHashes, HashModuloError<E>> {
        let mut hashes = OutputHashes::new();
        for (output, kind) in &self.outputs {
            let DerivationOutput::Fixed { method, hash } = kind else {
                return Err(HashModuloError::MixedOutputs);
            };
            let path = self
                .output_path(store_dir, output)?
                .expect("fixed outputs have paths");
            let fingerprint = format!(
                "fixed:out:{}:{}:{}",
                DerivationOutput::method_algo(*method, hash),
                hash.to_base16(),
                store_dir.print(&path)
            );
            hashes.insert(
                output.clone(),
                Hash::digest(HashAlgo::Sha256, fingerprint.as_bytes()),
            );
        }
        Ok(hashes)
    }

    /// `Derivation::unparse`. Output names, store paths and the platform
    /// are written between quotes without escaping, as Nix does; the
    /// builder, arguments and environment are escaped (`\"`, `\\`, `\n`,
    /// `\r`, `\t`).
    fn unparse(
        &self,
        store_dir: &StoreDir,
        mask_outputs: bool,
        actual_inputs: Option<&BTreeMap<String, BTreeSet<String>>>,
    ) -> Result<String, StorePathError> {
        let mut s = String::with_capacity(1024);
        s.push_str("Derive([");
        for (i, (name, output)) in self.outputs.iter().enumerate() {
            comma(&mut s, i);
            s.push('(');
            raw(&mut s, name);
            let (path, method_algo, hash) = match output {
                DerivationOutput::InputAddressed(path) if !mask_outputs => {
                    (store_dir.print(path), String::new(), String::new())
                }
                DerivationOutput::InputAddressed(_) | DerivationOutput::Deferred => {
                    Default::default()
                }
                DerivationOutput::Fixed { method, hash } => {
                    let path = match mask_outputs {
                        true => String::new(),
                        false => store_dir.print(
                            &self
                                .output_path(store_dir, name)?
                                .expect("fixed outputs have paths"),
                        ),
                    };
                    (
                        path,
                        DerivationOutput::method_algo(*method, hash),
                        hash.encode(Base::Base16, false),
                    )
                }
            };
            for field in [path, method_algo, hash] {
                s.push(',');
                raw(&mut s, &field);
            }
            s.push(')');
        }
        s.push_str("],[");
        let input_drvs: Vec<(String, &BTreeSet<String>)> = match actual_inputs {
            Some(inputs) => inputs.iter().map(|(h, o)| (h.clone(), o)).collect(),
            None => self
                .input_drvs
                .iter()
                .map(|(p, o)| (store_dir.print(p), o))
                .collect(),
        };
        for (i, (drv, outputs)) in input_drvs.iter().enumerate() {
            comma(&mut s, i);
            s.push('(');
            raw(&mut s, drv);
            s.push(',');
            list(&mut s, outputs.iter().map(String::as_str), raw);
            s.push(')');
        }
        s.push_str("],");
        let srcs: Vec<String> = self.input_srcs.iter().map(|p| store_dir.print(p)).collect();
        list(&mut s, srcs.iter().map(String::as_str), raw);
        s.push(',');
        raw(&mut s, &self.platform);
        s.push(',');
        escaped(&mut s, &self.builder);
        s.push(',');
        list(&mut s, self.args.iter().map(String::as_str), escaped);
        s.push_str(",[");
        for (i, (key, value)) in self.env.iter().enumerate() {
            comma(&mut s, i);
            s.push('(');
            escaped(&mut s, key);
            s.push(',');
            let masked = mask_outputs && self.outputs.contains_key(key);
            escaped(&mut s, if masked { "" } else { value });
            s.push(')');
        }
        s.push_str("])");
        Ok(s)
    }
}

/// Why a derivation's hash modulo could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum HashModuloError<E> {
    #[error("looking up an input derivation's hash")]
    Input(#[source] E),
    #[error("derivation '{drv}' has no output '{output}'")]
    NoSuchOutput { drv: StorePath, output: String },
    #[error("can't mix derivation output types")]
    MixedOutputs,
    #[error(transparent)]
    StorePath(#[from] StorePathError),
}

fn comma(s: &mut String, index: usize) {
    if index > 0 {
        s.push(',');
    }
}

fn raw(s: &mut String, text: &str) {
    s.push('"');
    s.push_str(text);
    s.push('"');
}

fn escaped(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
}

fn list<'a>(s: &mut String, items: impl Iterator<Item = &'a str>, write: fn(&mut String, &str)) {
    s.push('[');
    for (i, item) in items.enumerate() {
        comma(s, i);
        write(s, item);
    }
    s.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple() -> Derivation {
        Derivation {
            name: "simple".into(),
            outputs: [("out".to_owned(), DerivationOutput::Deferred)].into(),
            input_drvs: BTreeMap::new(),
            input_srcs: BTreeSet::new(),
            platform: "x86_64-linux".into(),
            builder: "/bin/sh".into(),
            args: vec!["-c".into(), "echo \"hi\"\n\tdone\\".into()],
            env: [
                ("builder".to_owned(), "/bin/sh".to_owned()),
                ("name".to_owned(), "simple".to_owned()),
                ("out".to_owned(), String::new()),
                ("system".to_owned(), "x86_64-linux".to_owned()),
            ]
            .into(),
        }
    }

    #[test]
    fn aterm_escapes_only_quoted_fields() {
        let text = simple().to_aterm(&StoreDir::default()).unwrap();
        assert_eq!(
            text,
            r#"Derive([("out","","","")],[],[],"x86_64-linux","/bin/sh",["-c","echo \"hi\"\n\tdone\\"],[("builder","/bin/sh"),("name","simple"),("out",""),("system","x86_64-linux")])"#
        );
    }

    #[test]
    fn masking_blanks_output_paths_and_their_variables() {
        let dir = StoreDir::default();
        let mut drv = simple();
        let out = StorePath::from_base_name("ffffffffffffffffffffffffffffffff-simple").unwrap();
        drv.env.insert("out".into(), dir.print(&out));
        drv.outputs
            .insert("out".into(), DerivationOutput::InputAddressed(out));
        let none = |_: &StorePath| -> Result<OutputHashes, std::convert::Infallible> {
            unreachable!("no inputs")
        };
        let masked = drv.hash_modulo(&dir, true, none).unwrap();
        let mut deferred = simple();
        deferred.env.insert("out".into(), String::new());
        assert_eq!(masked, deferred.hash_modulo(&dir, false, none).unwrap());
        assert_ne!(masked, drv.hash_modulo(&dir, false, none).unwrap());
    }
}
