//! Reading trust policies: OpenSSH `allowed_signers` files
//! (`spec/trust.md` §5.2).

use std::path::{Path, PathBuf};

use atom_trust::{AllowedSigners, AllowedSignersError};

/// An `allowed_signers` file that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PolicyFileError {
    #[error("cannot read the allowed_signers file `{}`", .path.display())]
    #[diagnostic(code(atom::trust::policy_read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the allowed_signers file `{}` is invalid", .path.display())]
    #[diagnostic(
        code(atom::trust::policy),
        help("each line is `principals [options] keytype base64 [comment]`, as ssh-keygen(1) describes; times end in Z")
    )]
    Parse {
        path: PathBuf,
        #[source]
        source: AllowedSignersError,
    },
}

/// Reads and parses an `allowed_signers` file.
pub fn read_allowed_signers(path: &Path) -> Result<AllowedSigners, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    AllowedSigners::parse(&text).map_err(|source| PolicyFileError::Parse {
        path: path.to_owned(),
        source,
    })
}
