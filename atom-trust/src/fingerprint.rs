//! Key fingerprints: the SHA-256 of a public key's wire encoding, as
//! OpenSSH prints it (`SHA256:` and unpadded base64) and as a ref name
//! component (64 lowercase hex digits).
//!
//! Ref names use hex, not base64: base64 holds `/` and `+`, and mixes cases,
//! which two loose ref files on a case-insensitive file system could not
//! tell apart.

use std::fmt;

use ssh_key::public::KeyData;
use ssh_key::{Fingerprint, HashAlg};

/// The SHA-256 fingerprint of a public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyFingerprint([u8; 32]);

/// A string that is not a key fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a key fingerprint (`SHA256:` and 43 base64 characters, or 64 lowercase hex digits)")]
pub struct FingerprintParseError(pub String);

impl KeyFingerprint {
    /// The fingerprint of a public key (its algorithm and key material; the
    /// comment is not part of it).
    pub fn of(key: &KeyData) -> Self {
        match key.fingerprint(HashAlg::Sha256) {
            Fingerprint::Sha256(bytes) => KeyFingerprint(bytes),
            // `fingerprint(Sha256)` always gives a SHA-256 fingerprint; the
            // enum is non-exhaustive, so say so rather than guess.
            other => unreachable!("asked for SHA-256, got {other:?}"),
        }
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The form used in ref names: 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// Parses the ref-name form (64 lowercase hex digits).
    pub fn from_hex(s: &str) -> Result<Self, FingerprintParseError> {
        let err = || FingerprintParseError(s.to_owned());
        if s.len() != 64 {
            return Err(err());
        }
        let bytes = data_encoding::HEXLOWER
            .decode(s.as_bytes())
            .map_err(|_| err())?;
        Ok(KeyFingerprint(bytes.try_into().map_err(|_| err())?))
    }

    /// Parses either form: OpenSSH's `SHA256:…` or the ref-name hex.
    pub fn parse(s: &str) -> Result<Self, FingerprintParseError> {
        if !s.starts_with("SHA256:") {
            return Self::from_hex(s);
        }
        match s.parse::<Fingerprint>() {
            Ok(Fingerprint::Sha256(bytes)) if KeyFingerprint(bytes).to_string() == s => {
                Ok(KeyFingerprint(bytes))
            }
            _ => Err(FingerprintParseError(s.to_owned())),
        }
    }
}

/// OpenSSH's form, as `ssh-keygen -l` prints it: `SHA256:` and unpadded
/// base64.
impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Fingerprint::Sha256(self.0), f)
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for KeyFingerprint {
    type Err = FingerprintParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyFingerprint::parse(s)
    }
}

impl serde::Serialize for KeyFingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyFingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyFingerprint::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILKfebrg8tpLCwUqCGp6HcFaE7fDO/GjVEc6XH45+EG4";

    #[test]
    fn both_forms_round_trip() {
        let key = ssh_key::PublicKey::from_openssh(KEY).unwrap();
        let fp = KeyFingerprint::of(key.key_data());
        let openssh = fp.to_string();
        assert!(openssh.starts_with("SHA256:"), "{openssh}");
        assert_eq!(openssh, key.fingerprint(HashAlg::Sha256).to_string());
        assert_eq!(KeyFingerprint::parse(&openssh).unwrap(), fp);
        assert_eq!(KeyFingerprint::parse(&fp.to_hex()).unwrap(), fp);
        assert_eq!(fp.to_hex().len(), 64);
    }

    #[test]
    fn other_spellings_are_refused() {
        let key = ssh_key::PublicKey::from_openssh(KEY).unwrap();
        let fp = KeyFingerprint::of(key.key_data());
        for bad in [
            fp.to_hex().to_uppercase(),
            fp.to_hex()[1..].to_owned(),
            format!("{fp}="),
            fp.to_string().replace("SHA256:", "SHA512:"),
            fp.to_string().replace("SHA256:", "sha256:"),
            String::new(),
        ] {
            assert!(KeyFingerprint::parse(&bad).is_err(), "{bad}");
        }
    }
}
