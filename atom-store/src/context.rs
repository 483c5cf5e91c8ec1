//! String context: which store objects a string refers to.
//!
//! Nix attaches to every string the set of store paths it was built from,
//! so that a derivation whose attributes mention a path depends on it.
//! Nix 2.8 encodes each element as a string (`/nix/store/…`,
//! `=/nix/store/….drv`, `!out!/nix/store/….drv`); eka keeps them typed and
//! encodes only for `builtins.getContext` and friends.

use std::collections::BTreeSet;

use crate::store_path::{StoreDir, StorePath, StorePathError};

/// One element of a string's context.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContextElem {
    /// A store path used as a file: a source, a `toFile` result, or a
    /// `.drv` file whose outputs are not wanted
    /// (`unsafeDiscardOutputDependency`). Nix: `/nix/store/…`.
    Plain(StorePath),
    /// A derivation and everything it needs, all outputs: what a
    /// derivation's `drvPath` carries. Nix: `=/nix/store/….drv`.
    DrvDeep(StorePath),
    /// One output of a derivation: what `outPath` and each output carry.
    /// Nix: `!<output>!/nix/store/….drv`.
    Built { drv: StorePath, output: String },
}

/// The context of one string.
pub type StringContext = BTreeSet<ContextElem>;

/// A context string Nix could not have produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("invalid string context element '{0}'")]
    Malformed(String),
    #[error("string context element '{text}' names no store path")]
    BadPath {
        text: String,
        #[source]
        source: StorePathError,
    },
}

impl ContextElem {
    /// The store path this element names (the `.drv` file for outputs).
    pub fn path(&self) -> &StorePath {
        match self {
            ContextElem::Plain(path) | ContextElem::DrvDeep(path) => path,
            ContextElem::Built { drv, .. } => drv,
        }
    }

    /// Nix's string form of the element.
    pub fn encode(&self, store_dir: &StoreDir) -> String {
        match self {
            ContextElem::Plain(path) => store_dir.print(path),
            ContextElem::DrvDeep(drv) => format!("={}", store_dir.print(drv)),
            ContextElem::Built { drv, output } => format!("!{output}!{}", store_dir.print(drv)),
        }
    }

    /// Reads Nix's string form (as `builtins.appendContext` needs).
    pub fn decode(store_dir: &StoreDir, text: &str) -> Result<ContextElem, ContextError> {
        let parse = |path: &str| {
            store_dir
                .parse(path)
                .map_err(|source| ContextError::BadPath {
                    text: text.to_owned(),
                    source,
                })
        };
        if let Some(drv) = text.strip_prefix('=') {
            Ok(ContextElem::DrvDeep(parse(drv)?))
        } else if let Some(rest) = text.strip_prefix('!') {
            let (output, drv) = rest
                .split_once('!')
                .ok_or_else(|| ContextError::Malformed(text.to_owned()))?;
            Ok(ContextElem::Built {
                drv: parse(drv)?,
                output: output.to_owned(),
            })
        } else {
            Ok(ContextElem::Plain(parse(text)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        let dir = StoreDir::default();
        let drv = StorePath::from_base_name("ffffffffffffffffffffffffffffffff-x.drv").unwrap();
        for elem in [
            ContextElem::Plain(drv.clone()),
            ContextElem::DrvDeep(drv.clone()),
            ContextElem::Built {
                drv: drv.clone(),
                output: "dev".into(),
            },
        ] {
            let text = elem.encode(&dir);
            assert_eq!(ContextElem::decode(&dir, &text).unwrap(), elem, "{text}");
        }
        assert_eq!(
            ContextElem::Built {
                drv,
                output: "out".into()
            }
            .encode(&dir),
            "!out!/nix/store/ffffffffffffffffffffffffffffffff-x.drv"
        );
        assert!(ContextElem::decode(&dir, "!out/nix/store/x").is_err());
        assert!(ContextElem::decode(&dir, "/tmp/x").is_err());
    }
}
