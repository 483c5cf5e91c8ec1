//! Hashes as Nix 2.8 prints and parses them (`libutil/hash.cc`).
//!
//! Nix writes a hash in four forms: base 16, its own base 32 (see
//! [`base32`]), base 64 and SRI (`sha256-<base64>`), optionally prefixed
//! by the algorithm (`sha256:<digits>`). Which form a string is in is told
//! by its length alone, as in Nix, so a 52-character sha256 string is base 32
//! and a 64-character one base 16.

use std::fmt;
use std::io;

use md5::Digest as _;

/// The hash algorithms Nix knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// Nix's `parseHashTypeOpt`: exactly `md5`, `sha1`, `sha256`, `sha512`.
    pub fn parse(name: &str) -> Option<HashAlgo> {
        match name {
            "md5" => Some(HashAlgo::Md5),
            "sha1" => Some(HashAlgo::Sha1),
            "sha256" => Some(HashAlgo::Sha256),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// Digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    fn base16_len(self) -> usize {
        self.size() * 2
    }

    fn base32_len(self) -> usize {
        base32::encoded_len(self.size())
    }

    fn base64_len(self) -> usize {
        ((4 * self.size() / 3) + 3) & !3
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a hash is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    Base16,
    Base32,
    Base64,
    /// `<algo>-<base64>`; always carries the algorithm.
    Sri,
}

/// A digest with its algorithm.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    algo: HashAlgo,
    bytes: [u8; 64],
}

/// Why a hash string was refused; the messages are Nix's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("unknown hash algorithm '{0}'")]
    UnknownAlgo(String),
    #[error("hash '{0}' is not SRI")]
    NotSri(String),
    #[error("hash '{0}' does not include a type, nor is the type otherwise known from context")]
    NoType(String),
    #[error("hash '{hash}' should have type '{expected}'")]
    WrongType { hash: String, expected: HashAlgo },
    #[error("invalid base-16 hash '{0}'")]
    InvalidBase16(String),
    #[error("invalid base-32 hash '{0}'")]
    InvalidBase32(String),
    #[error("invalid {form} hash '{hash}'")]
    InvalidBase64 { form: &'static str, hash: String },
    #[error("hash '{hash}' has wrong length for hash type '{algo}'")]
    WrongLength { hash: String, algo: HashAlgo },
    #[error("empty hash requires explicit hash type")]
    EmptyWithoutType,
}

impl Hash {
    /// The all-zero hash (what Nix assumes for an empty `outputHash`).
    pub fn zero(algo: HashAlgo) -> Hash {
        Hash {
            algo,
            bytes: [0; 64],
        }
    }

    /// A hash from its digest bytes; `None` if the length does not fit `algo`.
    pub fn from_bytes(algo: HashAlgo, digest: &[u8]) -> Option<Hash> {
        if digest.len() != algo.size() {
            return None;
        }
        let mut hash = Hash::zero(algo);
        hash.bytes[..digest.len()].copy_from_slice(digest);
        Some(hash)
    }

    /// The hash of `data`.
    pub fn digest(algo: HashAlgo, data: &[u8]) -> Hash {
        let mut hasher = Hasher::new(algo);
        hasher.update(data);
        hasher.finish()
    }

    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algo.size()]
    }

    /// Nix's `Hash::to_string(base, includeType)`.
    pub fn encode(&self, base: Base, include_algo: bool) -> String {
        let mut out = String::with_capacity(self.algo.name().len() + 1 + self.algo.base16_len());
        self.encode_into(&mut out, base, include_algo);
        out
    }

    /// [`Hash::encode`] appended to `out`.
    pub fn encode_into(&self, out: &mut String, base: Base, include_algo: bool) {
        if base == Base::Sri || include_algo {
            out.push_str(self.algo.name());
            out.push(if base == Base::Sri { '-' } else { ':' });
        }
        match base {
            Base::Base16 => data_encoding::HEXLOWER.encode_append(self.as_bytes(), out),
            Base::Base32 => base32::encode_into(out, self.as_bytes()),
            Base::Base64 | Base::Sri => data_encoding::BASE64.encode_append(self.as_bytes(), out),
        }
    }

    /// Lower-case base 16 without the algorithm.
    pub fn to_base16(&self) -> String {
        self.encode(Base::Base16, false)
    }

    /// Nix base 32 without the algorithm.
    pub fn to_base32(&self) -> String {
        self.encode(Base::Base32, false)
    }

    /// `<algo>-<base64>`.
    pub fn to_sri(&self) -> String {
        self.encode(Base::Sri, true)
    }

    /// XOR-folds the digest into `size` bytes (`compressHash`), as store
    /// path hashes are made from SHA-256.
    pub fn compress(&self, size: usize) -> Vec<u8> {
        let mut folded = vec![0u8; size];
        for (i, byte) in self.as_bytes().iter().enumerate() {
            folded[i % size] ^= byte;
        }
        folded
    }

    /// Nix's `Hash::parseAny`: `<algo>:<digits>`, `<algo>-<base64>` (SRI)
    /// or bare digits when `algo` is given; a prefix must agree with `algo`.
    pub fn parse_any(text: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        let (prefix, rest, is_sri) = split_algo_prefix(text)?;
        let algo = match (prefix, algo) {
            (None, None) => return Err(HashError::NoType(rest.to_owned())),
            (Some(found), Some(expected)) if found != expected => {
                return Err(HashError::WrongType {
                    hash: text.to_owned(),
                    expected,
                })
            }
            (Some(found), _) => found,
            (None, Some(expected)) => expected,
        };
        Hash::parse_digits(rest, algo, is_sri)
    }

    /// Nix's `Hash::parseSRI`: `<algo>-<base64>` only.
    pub fn parse_sri(text: &str) -> Result<Hash, HashError> {
        let (algo, rest) = text
            .split_once('-')
            .ok_or_else(|| HashError::NotSri(text.to_owned()))?;
        let algo = HashAlgo::parse(algo).ok_or_else(|| HashError::UnknownAlgo(algo.to_owned()))?;
        Hash::parse_digits(rest, algo, true)
    }

    /// Nix's `newHashAllowEmpty`: an empty string is the zero hash of
    /// `algo` (Nix warns "found empty hash, assuming `'<sri>'`").
    pub fn parse_allow_empty(text: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        if text.is_empty() {
            return algo.map(Hash::zero).ok_or(HashError::EmptyWithoutType);
        }
        Hash::parse_any(text, algo)
    }

    /// Digits without an algorithm prefix (`Hash::parseNonSRIUnprefixed`),
    /// as in a `.drv` file's output hash.
    pub fn parse_unprefixed(text: &str, algo: HashAlgo) -> Result<Hash, HashError> {
        Hash::parse_digits(text, algo, false)
    }

    fn parse_digits(rest: &str, algo: HashAlgo, is_sri: bool) -> Result<Hash, HashError> {
        let digest = if !is_sri && rest.len() == algo.base16_len() {
            data_encoding::HEXLOWER_PERMISSIVE
                .decode(rest.as_bytes())
                .map_err(|_| HashError::InvalidBase16(rest.to_owned()))?
        } else if !is_sri && rest.len() == algo.base32_len() {
            base32::decode(rest, algo.size())
                .ok_or_else(|| HashError::InvalidBase32(rest.to_owned()))?
        } else if is_sri || rest.len() == algo.base64_len() {
            let form = if is_sri { "SRI" } else { "base-64" };
            let invalid = || HashError::InvalidBase64 {
                form,
                hash: rest.to_owned(),
            };
            let digest = base64_decode_lenient(rest).ok_or_else(invalid)?;
            if digest.len() != algo.size() {
                return Err(invalid());
            }
            digest
        } else {
            return Err(HashError::WrongLength {
                hash: rest.to_owned(),
                algo,
            });
        };
        Ok(Hash::from_bytes(algo, &digest).expect("decoded to the algorithm's size"))
    }
}

/// Splits `sha256:…` or `sha256-…` (SRI) off a hash string, as Nix's
/// `getParsedTypeAndSRI`: a `:` anywhere wins over a `-`.
fn split_algo_prefix(text: &str) -> Result<(Option<HashAlgo>, &str, bool), HashError> {
    let (prefix, rest, is_sri) = match text.split_once(':') {
        Some((prefix, rest)) => (Some(prefix), rest, false),
        None => match text.split_once('-') {
            Some((prefix, rest)) => (Some(prefix), rest, true),
            None => (None, text, false),
        },
    };
    let algo = prefix
        .map(|name| HashAlgo::parse(name).ok_or_else(|| HashError::UnknownAlgo(name.to_owned())))
        .transpose()?;
    Ok((algo, rest, is_sri))
}

/// Nix's `base64Decode`: stops at the first `=`, skips newlines, drops
/// trailing bits; any other non-alphabet byte is an error.
fn base64_decode_lenient(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in text.bytes() {
        let digit = match byte {
            b'=' => break,
            b'\n' => continue,
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6 | u32::from(digit)) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode(Base::Base16, true))
    }
}

impl fmt::Display for Hash {
    /// `<algo>:<base32>`, as Nix prints hashes in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode(Base::Base32, true))
    }
}

/// An incremental hash; also an [`io::Write`] so a NAR can stream into it.
#[derive(Clone)]
pub struct Hasher(HasherState);

#[derive(Clone)]
enum HasherState {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algo: HashAlgo) -> Hasher {
        Hasher(match algo {
            HashAlgo::Md5 => HasherState::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => HasherState::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => HasherState::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => HasherState::Sha512(sha2::Sha512::new()),
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            HasherState::Md5(h) => h.update(data),
            HasherState::Sha1(h) => h.update(data),
            HasherState::Sha256(h) => h.update(data),
            HasherState::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Hash {
        let (algo, digest): (HashAlgo, Vec<u8>) = match self.0 {
            HasherState::Md5(h) => (HashAlgo::Md5, h.finalize().to_vec()),
            HasherState::Sha1(h) => (HashAlgo::Sha1, h.finalize().to_vec()),
            HasherState::Sha256(h) => (HashAlgo::Sha256, h.finalize().to_vec()),
            HasherState::Sha512(h) => (HashAlgo::Sha512, h.finalize().to_vec()),
        };
        Hash::from_bytes(algo, &digest).expect("digest has the algorithm's size")
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Nix's base 32: the alphabet `0-9a-z` without `e o u t`, written from
/// the most significant 5-bit group, with the bits read little-endian
/// from the byte string (so it is not RFC 4648 base 32).
pub mod base32 {
    const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

    /// Characters needed for `bytes` bytes.
    pub fn encoded_len(bytes: usize) -> usize {
        if bytes == 0 {
            0
        } else {
            (bytes * 8 - 1) / 5 + 1
        }
    }

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(encoded_len(bytes.len()));
        encode_into(&mut out, bytes);
        out
    }

    /// [`encode`] appended to `out`.
    pub fn encode_into(out: &mut String, bytes: &[u8]) {
        let len = encoded_len(bytes.len());
        out.reserve(len);
        for n in (0..len).rev() {
            let bit = n * 5;
            let (i, j) = (bit / 8, bit % 8);
            let low = u16::from(bytes[i]) >> j;
            let high = bytes.get(i + 1).map_or(0, |&b| u16::from(b) << (8 - j));
            out.push(char::from(ALPHABET[usize::from((low | high) & 0x1f)]));
        }
    }

    /// Decodes `text` into `size` bytes; `None` for a character outside
    /// the alphabet, a wrong length or bits beyond `size` bytes.
    pub fn decode(text: &str, size: usize) -> Option<Vec<u8>> {
        if text.len() != encoded_len(size) {
            return None;
        }
        let mut out = vec![0u8; size];
        for (n, c) in text.bytes().rev().enumerate() {
            let digit = ALPHABET.iter().position(|&a| a == c)? as u16;
            let bit = n * 5;
            let (i, j) = (bit / 8, bit % 8);
            out[i] |= (digit << j) as u8;
            let carry = digit >> (8 - j);
            if i + 1 < size {
                out[i + 1] |= carry as u8;
            } else if carry != 0 {
                return None;
            }
        }
        Some(out)
    }

    /// Whether `c` is a Nix base-32 digit.
    pub fn is_digit(c: u8) -> bool {
        ALPHABET.contains(&c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_string_in_every_form() {
        // `nix-hash --type sha256 --to-base32 …` and `builtins.hashString`.
        let h = Hash::digest(HashAlgo::Sha256, b"");
        assert_eq!(
            h.to_base16(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            h.to_base32(),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(
            h.to_sri(),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn every_form_parses_back() {
        for algo in [
            HashAlgo::Md5,
            HashAlgo::Sha1,
            HashAlgo::Sha256,
            HashAlgo::Sha512,
        ] {
            let h = Hash::digest(algo, b"hello world");
            for base in [Base::Base16, Base::Base32, Base::Base64] {
                let bare = h.encode(base, false);
                assert_eq!(Hash::parse_any(&bare, Some(algo)).unwrap(), h, "{bare}");
                let prefixed = h.encode(base, true);
                assert_eq!(Hash::parse_any(&prefixed, None).unwrap(), h, "{prefixed}");
            }
            assert_eq!(Hash::parse_any(&h.to_sri(), None).unwrap(), h);
            assert_eq!(Hash::parse_sri(&h.to_sri()).unwrap(), h);
        }
    }

    #[test]
    fn refusals_name_the_hash() {
        let h = Hash::digest(HashAlgo::Sha256, b"x").to_base16();
        assert!(matches!(
            Hash::parse_any(&h, None),
            Err(HashError::NoType(_))
        ));
        assert!(matches!(
            Hash::parse_any(&format!("sha1:{h}"), Some(HashAlgo::Sha256)),
            Err(HashError::WrongType { .. })
        ));
        assert!(matches!(
            Hash::parse_any(&format!("blake3:{h}"), None),
            Err(HashError::UnknownAlgo(a)) if a == "blake3"
        ));
        assert!(matches!(
            Hash::parse_any("abc", Some(HashAlgo::Sha256)),
            Err(HashError::WrongLength { .. })
        ));
        let bad32 = "e".repeat(52);
        assert!(matches!(
            Hash::parse_any(&bad32, Some(HashAlgo::Sha256)),
            Err(HashError::InvalidBase32(_))
        ));
        // The top bits of a 52-digit sha256 must be zero: 'z' overflows.
        let overflow = format!("z{}", "0".repeat(51));
        assert!(Hash::parse_any(&overflow, Some(HashAlgo::Sha256)).is_err());
        assert_eq!(
            Hash::parse_allow_empty("", None),
            Err(HashError::EmptyWithoutType)
        );
        assert_eq!(
            Hash::parse_allow_empty("", Some(HashAlgo::Sha1)).unwrap(),
            Hash::zero(HashAlgo::Sha1)
        );
    }

    #[test]
    fn base16_accepts_upper_case_as_nix_does() {
        let h = Hash::digest(HashAlgo::Md5, b"x");
        let upper = h.to_base16().to_uppercase();
        assert_eq!(Hash::parse_any(&upper, Some(HashAlgo::Md5)).unwrap(), h);
    }

    #[test]
    fn base32_round_trips_every_length() {
        for len in 1..70 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base32::encode(&bytes);
            assert_eq!(text.len(), base32::encoded_len(len));
            assert_eq!(base32::decode(&text, len).unwrap(), bytes);
        }
    }

    #[test]
    fn compress_folds_by_xor() {
        let h = Hash::from_bytes(HashAlgo::Sha256, &[1; 32]).unwrap();
        // 32 bytes folded into 20: positions 0..12 get two ones (xor 0).
        let folded = h.compress(20);
        assert_eq!(&folded[..12], &[0; 12]);
        assert_eq!(&folded[12..], &[1; 8]);
    }
}
