//! Store derivations: the `.drv` file (ATerm) and `hashDerivationModulo`,
//! as `libstore/derivations.cc` of Nix 2.8 writes and computes them.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::hash::{Base, Hash, HashAlgo, Hasher};
use crate::store_path::{IngestionMethod, StoreDir, StorePath, StorePathError};

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
    /// the content must have (computed once, when the output is made,
    /// since the `.drv` text and the hash modulo both need it).
    Fixed {
        method: IngestionMethod,
        hash: Hash,
        path: StorePath,
    },
    /// Not yet known: an input-addressed output while its derivation's
    /// hash is being computed (printed with an empty path).
    Deferred,
}

/// The hash of each output of a derivation (`DrvHash`): what stands for
/// the derivation in the `.drv` of a derivation that uses it.
pub type OutputHashes = BTreeMap<String, Hash>;

/// `<method><algo>` as in a `.drv` (`r:sha256`), for fixed outputs.
fn push_method_algo(s: &mut String, method: IngestionMethod, hash: &Hash) {
    s.push_str(method.prefix());
    s.push_str(hash.algo().name());
}

impl Derivation {
    /// Whether this is a fixed-output derivation.
    pub fn is_fixed_output(&self) -> bool {
        self.outputs
            .values()
            .any(|o| matches!(o, DerivationOutput::Fixed { .. }))
    }

    /// The store path of an output, when known.
    pub fn output_path(&self, output: &str) -> Option<&StorePath> {
        match self.outputs.get(output) {
            Some(DerivationOutput::InputAddressed(path) | DerivationOutput::Fixed { path, .. }) => {
                Some(path)
            }
            Some(DerivationOutput::Deferred) | None => None,
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
    pub fn to_aterm(&self, store_dir: &StoreDir) -> String {
        self.unparse(store_dir, false, None).0
    }

    /// The `.drv` file's store path: a text path named `<name>.drv` whose
    /// references are [`Derivation::references`].
    pub fn store_path(&self, store_dir: &StoreDir) -> Result<StorePath, StorePathError> {
        let text = self.to_aterm(store_dir);
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
        input_hashes: impl FnMut(&StorePath) -> Result<OutputHashes, E>,
    ) -> Result<OutputHashes, HashModuloError<E>> {
        if self.is_fixed_output() {
            return self.fixed_output_hashes(store_dir);
        }
        let inputs = self.modulo_inputs(input_hashes)?;
        let (text, _) = self.unparse(store_dir, mask_outputs, Some(&inputs));
        Ok(self.same_hash_for_each_output(Hash::digest(HashAlgo::Sha256, text.as_bytes())))
    }

    /// The `.drv` text and the unmasked hash modulo at once: the two texts
    /// differ only in how the input derivations are written, so the hash
    /// is taken over the `.drv` text with that part replaced, without
    /// writing the rest again.
    pub fn aterm_and_hash_modulo<E>(
        &self,
        store_dir: &StoreDir,
        input_hashes: impl FnMut(&StorePath) -> Result<OutputHashes, E>,
    ) -> Result<(String, OutputHashes), HashModuloError<E>> {
        let (aterm, inputs_at) = self.unparse(store_dir, false, None);
        if self.is_fixed_output() {
            return Ok((aterm, self.fixed_output_hashes(store_dir)?));
        }
        let inputs = self.modulo_inputs(input_hashes)?;
        let mut modulo_inputs = String::with_capacity(inputs.len() * 80);
        write_input_drvs(
            &mut modulo_inputs,
            store_dir,
            &self.input_drvs,
            Some(&inputs),
        );
        let mut hasher = Hasher::new(HashAlgo::Sha256);
        hasher.update(&aterm.as_bytes()[..inputs_at.start]);
        hasher.update(modulo_inputs.as_bytes());
        hasher.update(&aterm.as_bytes()[inputs_at.end..]);
        let hashes = self.same_hash_for_each_output(hasher.finish());
        Ok((aterm, hashes))
    }

    /// The input derivations as `hashDerivationModulo` writes them: each
    /// one's hash with the outputs wanted of it (several inputs may share
    /// a hash).
    fn modulo_inputs<E>(
        &self,
        mut input_hashes: impl FnMut(&StorePath) -> Result<OutputHashes, E>,
    ) -> Result<ModuloInputs<'_>, HashModuloError<E>> {
        let mut inputs = ModuloInputs::new();
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
                    .entry(hash.clone())
                    .or_default()
                    .insert(output.as_str());
            }
        }
        Ok(inputs)
    }

    fn same_hash_for_each_output(&self, hash: Hash) -> OutputHashes {
        self.outputs
            .keys()
            .map(|o| (o.clone(), hash.clone()))
            .collect()
    }

    fn fixed_output_hashes<E>(
        &self,
        store_dir: &StoreDir,
    ) -> Result<OutputHashes, HashModuloError<E>> {
        let mut hashes = OutputHashes::new();
        for (output, kind) in &self.outputs {
            let DerivationOutput::Fixed { method, hash, path } = kind else {
                return Err(HashModuloError::MixedOutputs);
            };
            let mut fingerprint = String::with_capacity(200);
            fingerprint.push_str("fixed:out:");
            push_method_algo(&mut fingerprint, *method, hash);
            fingerprint.push(':');
            hash.encode_into(&mut fingerprint, Base::Base16, false);
            fingerprint.push(':');
            store_dir.print_into(&mut fingerprint, path);
            hashes.insert(
                output.clone(),
                Hash::digest(HashAlgo::Sha256, fingerprint.as_bytes()),
            );
        }
        Ok(hashes)
    }

    /// `Derivation::unparse`, and where in the text the input derivations
    /// are. Output names, store paths and the platform are written between
    /// quotes without escaping, as Nix does; the builder, arguments and
    /// environment are escaped (`\"`, `\\`, `\n`, `\r`, `\t`).
    fn unparse(
        &self,
        store_dir: &StoreDir,
        mask_outputs: bool,
        modulo_inputs: Option<&ModuloInputs<'_>>,
    ) -> (String, Range<usize>) {
        let mut s = String::with_capacity(self.estimated_aterm_len(store_dir));
        s.push_str("Derive([");
        for (i, (name, output)) in self.outputs.iter().enumerate() {
            comma(&mut s, i);
            s.push('(');
            raw(&mut s, name);
            s.push_str(",\"");
            match output {
                DerivationOutput::InputAddressed(path) if !mask_outputs => {
                    store_dir.print_into(&mut s, path);
                    s.push_str("\",\"\",\"\"");
                }
                DerivationOutput::InputAddressed(_) | DerivationOutput::Deferred => {
                    s.push_str("\",\"\",\"\"");
                }
                DerivationOutput::Fixed { method, hash, path } => {
                    if !mask_outputs {
                        store_dir.print_into(&mut s, path);
                    }
                    s.push_str("\",\"");
                    push_method_algo(&mut s, *method, hash);
                    s.push_str("\",\"");
                    hash.encode_into(&mut s, Base::Base16, false);
                    s.push('"');
                }
            }
            s.push(')');
        }
        s.push_str("],");
        let inputs_start = s.len();
        write_input_drvs(&mut s, store_dir, &self.input_drvs, modulo_inputs);
        let inputs_at = inputs_start..s.len();
        s.push_str(",[");
        for (i, src) in self.input_srcs.iter().enumerate() {
            comma(&mut s, i);
            s.push('"');
            store_dir.print_into(&mut s, src);
            s.push('"');
        }
        s.push_str("],");
        raw(&mut s, &self.platform);
        s.push(',');
        escaped(&mut s, &self.builder);
        s.push_str(",[");
        for (i, arg) in self.args.iter().enumerate() {
            comma(&mut s, i);
            escaped(&mut s, arg);
        }
        s.push_str("],[");
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
        (s, inputs_at)
    }

    /// About the length of the `.drv` text, so that it is written into
    /// one allocation.
    fn estimated_aterm_len(&self, store_dir: &StoreDir) -> usize {
        let path_len = store_dir.as_str().len() + 100;
        let outputs = self.outputs.len() * (path_len + 32);
        let inputs = (self.input_drvs.len() + self.input_srcs.len()) * (path_len + 16);
        let args: usize = self.args.iter().map(|a| a.len() + 3).sum();
        let env: usize = self.env.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
        64 + outputs + inputs + args + env + self.builder.len() + self.platform.len()
    }
}

/// The input derivations of a derivation's hash modulo: each one's hash
/// (in the order of its base-16 form: all are SHA-256, so the order of
/// their bytes) and the outputs wanted of it.
type ModuloInputs<'a> = BTreeMap<Hash, BTreeSet<&'a str>>;

/// The list of input derivations: `.drv` paths, or their hashes modulo.
fn write_input_drvs(
    s: &mut String,
    store_dir: &StoreDir,
    input_drvs: &BTreeMap<StorePath, BTreeSet<String>>,
    modulo_inputs: Option<&ModuloInputs<'_>>,
) {
    s.push('[');
    match modulo_inputs {
        Some(inputs) => {
            for (i, (hash, outputs)) in inputs.iter().enumerate() {
                comma(s, i);
                s.push_str("(\"");
                hash.encode_into(s, Base::Base16, false);
                s.push_str("\",");
                list(s, outputs.iter().copied(), raw);
                s.push(')');
            }
        }
        None => {
            for (i, (drv, outputs)) in input_drvs.iter().enumerate() {
                comma(s, i);
                s.push_str("(\"");
                store_dir.print_into(s, drv);
                s.push_str("\",");
                list(s, outputs.iter().map(String::as_str), raw);
                s.push(')');
            }
        }
    }
    s.push(']');
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

/// `text` quoted and escaped, copied by runs between the characters
/// to escape (all ASCII, so never inside a UTF-8 sequence).
fn escaped(s: &mut String, text: &str) {
    s.reserve(text.len() + 2);
    s.push('"');
    let mut run_start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            _ => continue,
        };
        s.push_str(&text[run_start..i]);
        s.push_str(escape);
        run_start = i + 1;
    }
    s.push_str(&text[run_start..]);
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
        let text = simple().to_aterm(&StoreDir::default());
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

    #[test]
    fn the_hash_taken_beside_the_aterm_is_the_hash_modulo() {
        let dir = StoreDir::default();
        let input = |c: char| {
            StorePath::from_base_name(&format!("{}-in.drv", c.to_string().repeat(32))).unwrap()
        };
        let mut drv = simple();
        let out = StorePath::from_base_name(&format!("{}-simple", "f".repeat(32))).unwrap();
        drv.env.insert("out".into(), dir.print(&out));
        drv.outputs
            .insert("out".into(), DerivationOutput::InputAddressed(out));
        for (c, outputs) in [
            ('a', vec!["out", "dev"]),
            ('b', vec!["out"]),
            ('c', vec!["lib"]),
        ] {
            let outputs = outputs.into_iter().map(str::to_owned).collect();
            drv.input_drvs.insert(input(c), outputs);
        }
        let hashes = |path: &StorePath| -> Result<OutputHashes, std::convert::Infallible> {
            // Two inputs with the same hash, as two fixed-output ones may have.
            let seed = if path == &input('c') {
                "a"
            } else {
                path.base_name()
            };
            let hash = Hash::digest(HashAlgo::Sha256, seed.as_bytes());
            Ok(["out", "dev", "lib"]
                .into_iter()
                .map(|o| (o.to_owned(), hash.clone()))
                .collect())
        };
        let (aterm, together) = drv.aterm_and_hash_modulo(&dir, hashes).unwrap();
        assert_eq!(aterm, drv.to_aterm(&dir));
        assert_eq!(together, drv.hash_modulo(&dir, false, hashes).unwrap());
        assert_ne!(together, drv.hash_modulo(&dir, true, hashes).unwrap());
    }
}
