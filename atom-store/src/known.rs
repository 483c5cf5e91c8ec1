//! The store objects an evaluation has produced.
//!
//! Nix writes every source, `toFile` text and `.drv` into the store the
//! moment evaluation produces it, and reads them back from there (the
//! closure of a `drvPath` context, an input derivation's hash). eka
//! evaluates without a store, so [`KnownPaths`] holds them instead: what
//! each path is, what it refers to, and for derivations their hash
//! modulo. `eka build` later writes the closure it needs into a real store
//! ([`crate::daemon`]).

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::Arc;

use crate::context::{ContextElem, StringContext};
use crate::derivation::{Derivation, HashModuloError, OutputHashes};
use crate::hash::{Hash, HashAlgo, Hasher};
use crate::nar::{write_nar, FileTree};
use crate::store_path::{IngestionMethod, StoreDir, StorePath, StorePathError};

/// An error while producing a NAR, from any source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Something that can write the NAR of a file tree, again and again:
/// once to hash it during evaluation, once more to add it to a store.
pub trait NarSource: Send + Sync {
    fn write_nar(&self, out: &mut dyn io::Write) -> Result<(), BoxError>;
}

impl<T: FileTree + Send + Sync> NarSource for T {
    fn write_nar(&self, out: &mut dyn io::Write) -> Result<(), BoxError> {
        write_nar(self, out).map_err(|e| Box::new(e) as BoxError)
    }
}

/// What a known store path holds.
#[derive(Clone)]
pub enum Content {
    /// A text file: a `builtins.toFile` result.
    Text(String),
    /// A file tree added as a source (recursive SHA-256).
    Source {
        nar_hash: Hash,
        nar: Arc<dyn NarSource>,
    },
    /// A store derivation, its `.drv` text and its hash modulo
    /// (unmasked, as Nix memoises it).
    Derivation {
        drv: Derivation,
        aterm: String,
        hashes: OutputHashes,
    },
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Text(text) => f.debug_tuple("Text").field(text).finish(),
            Content::Source { nar_hash, .. } => f
                .debug_struct("Source")
                .field("nar_hash", nar_hash)
                .finish(),
            Content::Derivation { drv, .. } => f.debug_tuple("Derivation").field(drv).finish(),
        }
    }
}

/// A store path produced by the evaluation.
#[derive(Clone, Debug)]
pub struct KnownPath {
    pub references: BTreeSet<StorePath>,
    pub content: Content,
}

/// Why a store object could not be made or found.
#[derive(Debug, thiserror::Error)]
pub enum KnownError {
    #[error("the string refers to the store path '{0}', which this evaluation did not produce")]
    Unknown(String),
    #[error("in 'toFile': the file named '{name}' must not contain a reference to a derivation but contains ({context})")]
    TextRefersToDerivation { name: String, context: String },
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    #[error("serialising the source '{name}'")]
    Nar {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("computing the hash of derivation '{name}'")]
    HashModulo {
        name: String,
        #[source]
        source: HashModuloError<Box<KnownError>>,
    },
}

/// Every store object the evaluation produced, by path.
#[derive(Clone, Debug, Default)]
pub struct KnownPaths {
    store_dir: StoreDir,
    paths: HashMap<StorePath, KnownPath>,
}

impl KnownPaths {
    pub fn new(store_dir: StoreDir) -> KnownPaths {
        KnownPaths {
            store_dir,
            paths: HashMap::new(),
        }
    }

    pub fn store_dir(&self) -> &StoreDir {
        &self.store_dir
    }

    pub fn get(&self, path: &StorePath) -> Option<&KnownPath> {
        self.paths.get(path)
    }

    pub fn contains(&self, path: &StorePath) -> bool {
        self.paths.contains_key(path)
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The derivation stored at `path`, if `path` is a known derivation.
    pub fn derivation(&self, path: &StorePath) -> Option<&Derivation> {
        match &self.paths.get(path)?.content {
            Content::Derivation { drv, .. } => Some(drv),
            _ => None,
        }
    }

    /// A store path the evaluation produced, parsed from its full form.
    pub fn lookup(&self, path: &str) -> Result<StorePath, KnownError> {
        let parsed = self.store_dir.parse(path)?;
        match self.contains(&parsed) {
            true => Ok(parsed),
            false => Err(KnownError::Unknown(path.to_owned())),
        }
    }

    /// `builtins.toFile name text`: a text path whose references are the
    /// plain paths of `context` (a derivation output is refused, as Nix
    /// refuses it, since the text could not be written before the build).
    pub fn add_text(
        &mut self,
        name: &str,
        text: &str,
        context: &StringContext,
    ) -> Result<StorePath, KnownError> {
        let mut references = BTreeSet::new();
        for elem in context {
            match elem {
                ContextElem::Plain(path) => {
                    self.check_known(path)?;
                    references.insert(path.clone());
                }
                other => {
                    return Err(KnownError::TextRefersToDerivation {
                        name: name.to_owned(),
                        context: other.encode(&self.store_dir),
                    })
                }
            }
        }
        let path = self
            .store_dir
            .make_text_path(name, text.as_bytes(), &references)?;
        self.paths.insert(
            path.clone(),
            KnownPath {
                references,
                content: Content::Text(text.to_owned()),
            },
        );
        Ok(path)
    }

    /// A file tree as a source path named `name` (`builtins.path`,
    /// `"${./dir}"`): the NAR is produced once here to hash it.
    pub fn add_source(
        &mut self,
        name: &str,
        nar: Arc<dyn NarSource>,
    ) -> Result<StorePath, KnownError> {
        let mut hasher = Hasher::new(HashAlgo::Sha256);
        nar.write_nar(&mut hasher)
            .map_err(|source| KnownError::Nar {
                name: name.to_owned(),
                source,
            })?;
        let nar_hash = hasher.finish();
        let path = self.store_dir.make_fixed_output_path(
            IngestionMethod::Recursive,
            &nar_hash,
            name,
            &BTreeSet::new(),
            false,
        )?;
        self.paths.insert(
            path.clone(),
            KnownPath {
                references: BTreeSet::new(),
                content: Content::Source { nar_hash, nar },
            },
        );
        Ok(path)
    }

    /// Registers a complete derivation (its outputs' paths filled in)
    /// whose inputs are all known; returns its `.drv` path.
    pub fn add_derivation(&mut self, drv: Derivation) -> Result<StorePath, KnownError> {
        for input in drv.input_srcs.iter().chain(drv.input_drvs.keys()) {
            self.check_known(input)?;
        }
        let (aterm, hashes) = drv
            .aterm_and_hash_modulo(&self.store_dir, |path| self.input_hashes(path))
            .map_err(|source| KnownError::HashModulo {
                name: drv.name.clone(),
                source,
            })?;
        let references = drv.references();
        let path = self.store_dir.make_text_path(
            &format!("{}.drv", drv.name),
            aterm.as_bytes(),
            &references,
        )?;
        self.paths.insert(
            path.clone(),
            KnownPath {
                references,
                content: Content::Derivation { drv, aterm, hashes },
            },
        );
        Ok(path)
    }

    /// `hashDerivationModulo` with the input derivations looked up here.
    pub fn hash_modulo(
        &self,
        drv: &Derivation,
        mask_outputs: bool,
    ) -> Result<OutputHashes, KnownError> {
        drv.hash_modulo(&self.store_dir, mask_outputs, |path| {
            self.input_hashes(path)
        })
        .map_err(|source| KnownError::HashModulo {
            name: drv.name.clone(),
            source,
        })
    }

    /// The hash modulo of a known derivation, as Nix memoises it.
    fn input_hashes(&self, path: &StorePath) -> Result<OutputHashes, Box<KnownError>> {
        match self.paths.get(path).map(|known| &known.content) {
            Some(Content::Derivation { hashes, .. }) => Ok(hashes.clone()),
            _ => Err(Box::new(KnownError::Unknown(self.store_dir.print(path)))),
        }
    }

    /// `path` and everything it refers to, transitively, references
    /// before the paths that refer to them (the order a store accepts
    /// them in).
    pub fn closure(&self, roots: &[StorePath]) -> Result<Vec<StorePath>, KnownError> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for root in roots {
            self.visit(root, &mut seen, &mut order)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        path: &StorePath,
        seen: &mut BTreeSet<StorePath>,
        order: &mut Vec<StorePath>,
    ) -> Result<(), KnownError> {
        if !seen.insert(path.clone()) {
            return Ok(());
        }
        let known = self.check_known(path)?;
        for reference in &known.references {
            self.visit(reference, seen, order)?;
        }
        order.push(path.clone());
        Ok(())
    }

    pub(crate) fn check_known(&self, path: &StorePath) -> Result<&KnownPath, KnownError> {
        self.paths
            .get(path)
            .ok_or_else(|| KnownError::Unknown(self.store_dir.print(path)))
    }
}
