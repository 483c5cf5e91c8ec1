//! Store paths and how Nix 2.8 computes them (`libstore/store-api.cc`,
//! `libstore/path.cc`).
//!
//! A store path is `<store dir>/<hash>-<name>`, `<hash>` being the Nix
//! base-32 form of a SHA-256 digest folded to 20 bytes. The digest is over
//! `<type>:sha256:<inner hash in base 16>:<store dir>:<name>`, so the same
//! content gets another path in another store directory.

use std::collections::BTreeSet;
use std::fmt;

use crate::hash::{base32, Base, Hash, HashAlgo};

/// Length of the hash part of a store path's base name.
pub const HASH_PART_LEN: usize = 32;

/// The longest name Nix accepts.
pub const MAX_NAME_LEN: usize = 211;

/// About what [`StoreDir::make_store_path`] appends to a path's type
/// besides the store directory (`:sha256:<64 digits>:` and the name), so
/// that the fingerprint is written into one allocation.
const FINGERPRINT_TAIL: usize = 80 + MAX_NAME_LEN;

/// A store directory such as `/nix/store`. Store paths are computed from
/// it, so it must be the one of the Nix store they are written to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoreDir(String);

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir("/nix/store".to_owned())
    }
}

/// Why a string is not a store path or a name is not a store path name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorePathError {
    #[error("path '{0}' is not in the Nix store")]
    NotInStore(String),
    #[error("'{0}' is too short to be a valid store path")]
    TooShort(String),
    #[error("store path '{path}' contains illegal base-32 character '{c}'")]
    BadHashChar { path: String, c: char },
    #[error("store path '{0}' has an empty name")]
    EmptyName(String),
    #[error("store path '{0}' has a name longer than 211 characters")]
    NameTooLong(String),
    #[error("store path '{path}' contains illegal character '{c}'")]
    BadNameChar { path: String, c: char },
    #[error("store directory '{0}' must be an absolute path without a trailing '/'")]
    BadStoreDir(String),
}

impl StoreDir {
    /// A store directory; absolute, not `/`-terminated (Nix canonicalises
    /// `NIX_STORE_DIR` the same way).
    pub fn new(dir: impl Into<String>) -> Result<StoreDir, StorePathError> {
        let dir = dir.into();
        if !dir.starts_with('/') || (dir.len() > 1 && dir.ends_with('/')) || dir.contains("//") {
            return Err(StorePathError::BadStoreDir(dir));
        }
        Ok(StoreDir(dir))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<store dir>/<base name>`.
    pub fn print(&self, path: &StorePath) -> String {
        let mut out = String::with_capacity(self.0.len() + 1 + path.base.len());
        self.print_into(&mut out, path);
        out
    }

    /// [`StoreDir::print`] appended to `out`.
    pub fn print_into(&self, out: &mut String, path: &StorePath) {
        out.push_str(&self.0);
        out.push('/');
        out.push_str(&path.base);
    }

    /// Parses a full store path (`/nix/store/<hash>-<name>`, nothing after).
    pub fn parse(&self, path: &str) -> Result<StorePath, StorePathError> {
        let base = path
            .strip_prefix(self.0.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|base| !base.is_empty() && !base.contains('/'))
            .ok_or_else(|| StorePathError::NotInStore(path.to_owned()))?;
        StorePath::from_base_name(base)
    }

    /// Splits a path inside the store into its store path and the rest
    /// (`""` or `/sub/path`), as `Store::toStorePath`.
    pub fn split<'a>(&self, path: &'a str) -> Result<(StorePath, &'a str), StorePathError> {
        let not_in_store = || StorePathError::NotInStore(path.to_owned());
        let inside = path
            .strip_prefix(self.0.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(not_in_store)?;
        let end = inside.find('/').unwrap_or(inside.len());
        let store_path = StorePath::from_base_name(&inside[..end])?;
        Ok((store_path, &inside[end..]))
    }

    /// Nix's `makeStorePath(type, hash, name)`.
    pub fn make_store_path(
        &self,
        kind: &str,
        inner: &Hash,
        name: &str,
    ) -> Result<StorePath, StorePathError> {
        self.make_store_path_of_type(kind.to_owned(), inner, name)
    }

    /// [`StoreDir::make_store_path`] with the type already in
    /// `fingerprint`, which the rest is appended to (one buffer for all).
    fn make_store_path_of_type(
        &self,
        mut fingerprint: String,
        inner: &Hash,
        name: &str,
    ) -> Result<StorePath, StorePathError> {
        fingerprint.reserve(
            inner.algo().name().len() + 2 * inner.algo().size() + self.0.len() + name.len() + 3,
        );
        fingerprint.push(':');
        inner.encode_into(&mut fingerprint, Base::Base16, true);
        fingerprint.push(':');
        fingerprint.push_str(&self.0);
        fingerprint.push(':');
        fingerprint.push_str(name);
        let digest = Hash::digest(HashAlgo::Sha256, fingerprint.as_bytes()).compress(20);
        StorePath::from_parts(&digest, name)
    }

    /// The path of a derivation output (`makeOutputPath`): `hash` is the
    /// derivation's hash modulo fixed-output inputs.
    pub fn make_output_path(
        &self,
        output: &str,
        hash: &Hash,
        drv_name: &str,
    ) -> Result<StorePath, StorePathError> {
        let mut kind =
            String::with_capacity("output:".len() + output.len() + self.0.len() + FINGERPRINT_TAIL);
        kind.push_str("output:");
        kind.push_str(output);
        self.make_store_path_of_type(kind, hash, &output_path_name(drv_name, output))
    }

    /// A text file with references (`builtins.toFile`, `.drv` files):
    /// `makeTextPath(name, sha256(text), refs)`.
    pub fn make_text_path(
        &self,
        name: &str,
        text: &[u8],
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StorePathError> {
        let hash = Hash::digest(HashAlgo::Sha256, text);
        self.make_store_path_of_type(
            self.type_with_references("text", references, false),
            &hash,
            name,
        )
    }

    /// A content-addressed path (`makeFixedOutputPath`): recursive SHA-256
    /// is a "source" path (which may have references); every other method
    /// and algorithm goes through `fixed:out:<method><algo>:<hash>:`.
    pub fn make_fixed_output_path(
        &self,
        method: IngestionMethod,
        hash: &Hash,
        name: &str,
        references: &BTreeSet<StorePath>,
        self_reference: bool,
    ) -> Result<StorePath, StorePathError> {
        if hash.algo() == HashAlgo::Sha256 && method == IngestionMethod::Recursive {
            let kind = self.type_with_references("source", references, self_reference);
            self.make_store_path_of_type(kind, hash, name)
        } else {
            debug_assert!(references.is_empty() && !self_reference);
            let mut inner = String::with_capacity(150);
            inner.push_str("fixed:out:");
            inner.push_str(method.prefix());
            hash.encode_into(&mut inner, Base::Base16, true);
            inner.push(':');
            let inner = Hash::digest(HashAlgo::Sha256, inner.as_bytes());
            self.make_store_path("output:out", &inner, name)
        }
    }

    /// The path `builtins.path`, `"${./dir}"` and `nix-store --add` give a
    /// file tree: recursive SHA-256 of its NAR, no references.
    pub fn make_source_path(
        &self,
        name: &str,
        nar_hash: &Hash,
    ) -> Result<StorePath, StorePathError> {
        self.make_fixed_output_path(
            IngestionMethod::Recursive,
            nar_hash,
            name,
            &BTreeSet::new(),
            false,
        )
    }

    fn type_with_references(
        &self,
        kind: &str,
        references: &BTreeSet<StorePath>,
        self_reference: bool,
    ) -> String {
        let printed_len = |r: &StorePath| self.0.len() + 2 + r.base.len();
        let refs_len: usize = references.iter().map(printed_len).sum();
        let mut out = String::with_capacity(
            kind.len() + refs_len + ":self".len() + self.0.len() + FINGERPRINT_TAIL,
        );
        out.push_str(kind);
        for reference in references {
            out.push(':');
            self.print_into(&mut out, reference);
        }
        if self_reference {
            out.push_str(":self");
        }
        out
    }
}

/// How a content-addressed path's content is hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IngestionMethod {
    /// The bytes of a single regular file.
    Flat,
    /// The NAR serialisation of a file tree.
    Recursive,
}

impl IngestionMethod {
    /// `r:` for recursive, as in `.drv` files and fixed-output fingerprints.
    pub fn prefix(self) -> &'static str {
        match self {
            IngestionMethod::Flat => "",
            IngestionMethod::Recursive => "r:",
        }
    }
}

/// A store path's base name, `<hash>-<name>`, valid by construction.
/// Ordered as Nix orders `StorePath` (by base name), which is the order of
/// references, `inputSrcs` and `inputDrvs` in `.drv` files.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath {
    base: String,
}

impl StorePath {
    /// From a base name such as `…-hello-1.0`.
    pub fn from_base_name(base: &str) -> Result<StorePath, StorePathError> {
        if base.len() < HASH_PART_LEN + 1 {
            return Err(StorePathError::TooShort(base.to_owned()));
        }
        if let Some(c) = base[..HASH_PART_LEN]
            .chars()
            .find(|&c| !c.is_ascii() || !base32::is_digit(c as u8))
        {
            return Err(StorePathError::BadHashChar {
                path: base.to_owned(),
                c,
            });
        }
        check_name(base, &base[HASH_PART_LEN + 1..])?;
        Ok(StorePath {
            base: base.to_owned(),
        })
    }

    /// From a 20-byte digest and a name.
    pub fn from_parts(digest: &[u8], name: &str) -> Result<StorePath, StorePathError> {
        let mut base = String::with_capacity(base32::encoded_len(digest.len()) + 1 + name.len());
        base32::encode_into(&mut base, digest);
        base.push('-');
        base.push_str(name);
        check_name(&base, name)?;
        Ok(StorePath { base })
    }

    pub fn base_name(&self) -> &str {
        &self.base
    }

    pub fn hash_part(&self) -> &str {
        &self.base[..HASH_PART_LEN]
    }

    pub fn name(&self) -> &str {
        &self.base[HASH_PART_LEN + 1..]
    }

    /// Whether this is a store derivation (`.drv`).
    pub fn is_derivation(&self) -> bool {
        self.name().ends_with(".drv")
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({})", self.base)
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// Nix's `checkName`: 1 to 211 characters of `[0-9a-zA-Z+\-._?=]`.
pub fn check_name(path: &str, name: &str) -> Result<(), StorePathError> {
    if name.is_empty() {
        return Err(StorePathError::EmptyName(path.to_owned()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong(path.to_owned()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+-._?=".contains(c);
    match name.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(StorePathError::BadNameChar {
            path: path.to_owned(),
            c,
        }),
        None => Ok(()),
    }
}

/// The name of an output's path: the derivation's name, plus `-<output>`
/// unless the output is `out`.
pub fn output_path_name(drv_name: &str, output: &str) -> String {
    if output == "out" {
        drv_name.to_owned()
    } else {
        format!("{drv_name}-{output}")
    }
}

/// `builtins.placeholder output`: `/` and the base-32 SHA-256 of
/// `nix-output:<output>` (`hashPlaceholder`).
pub fn hash_placeholder(output: &str) -> String {
    let hash = Hash::digest(HashAlgo::Sha256, format!("nix-output:{output}").as_bytes());
    format!("/{}", hash.to_base32())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_out_is_nix_documented_value() {
        // From the documentation of `builtins.placeholder` in primops.cc.
        assert_eq!(
            hash_placeholder("out"),
            "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9"
        );
    }

    #[test]
    fn parse_and_print_round_trip() {
        let dir = StoreDir::default();
        let text = "/nix/store/ffffffffffffffffffffffffffffffff-x";
        let path = dir.parse(text).unwrap();
        assert_eq!(path.name(), "x");
        assert_eq!(dir.print(&path), text);
        assert!(dir.parse("/nix/store/ffff-x").is_err());
        assert!(dir
            .parse("/tmp/ffffffffffffffffffffffffffffffff-x")
            .is_err());
        assert!(dir
            .parse("/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x")
            .is_err());
        assert!(dir
            .parse("/nix/store/ffffffffffffffffffffffffffffffff-a b")
            .is_err());
        let (p, rest) = dir
            .split("/nix/store/ffffffffffffffffffffffffffffffff-x/bin/sh")
            .unwrap();
        assert_eq!((p, rest), (path, "/bin/sh"));
    }

    #[test]
    fn names_are_checked_as_nix_does() {
        assert!(check_name("p", "hello-1.0_a+b?c=d").is_ok());
        assert!(matches!(
            check_name("p", ""),
            Err(StorePathError::EmptyName(_))
        ));
        assert!(matches!(
            check_name("p", &"a".repeat(212)),
            Err(StorePathError::NameTooLong(_))
        ));
        assert!(matches!(
            check_name("p", "a/b"),
            Err(StorePathError::BadNameChar { c: '/', .. })
        ));
    }

    #[test]
    fn store_dir_must_be_canonical() {
        assert!(StoreDir::new("relative").is_err());
        assert!(StoreDir::new("/nix/store/").is_err());
        assert!(StoreDir::new("/gnu/store").is_ok());
    }
}
