//! The evaluator's memory limit ([`crate::Limits::max_memory_bytes`]).
//!
//! Values are reference counted and live on the process's heap, which the
//! host's global allocator manages (eka's is jemalloc); the library does not
//! depend on which. What is measured is what the operating system counts
//! against the process, its resident memory, read from `/proc/self/status`
//! (Linux): whatever the allocator, that is what gets a process killed.
//! Reading it costs microseconds, so it is read:
//!
//! - before an allocation of [`BIG`] bytes or more (a string, a list, an
//!   output buffer doubling): such an allocation is refused when the
//!   resident memory plus its size would pass the limit, so a value that
//!   doubles in size fails cleanly before the allocator aborts;
//! - every [`PERIOD`] evaluation steps, to catch memory that grows by many
//!   small allocations.
//!
//! On other systems only the size of each big allocation is checked
//! against the limit.

/// Allocations from this size up are checked against the limit.
pub(crate) const BIG: usize = 1 << 20;

/// Steps between two readings of the resident memory (a power of two).
pub(crate) const PERIOD: u64 = 1 << 20;

/// The limit when the host sets none: 4 GiB, well above what real atom
/// code needs (and than Nix needs for most of nixpkgs), and below the
/// memory of the machines eka runs on.
pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;

/// The process's resident memory in bytes, when the system tells.
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// A size as a user writes it: bytes, or a number with a binary unit
/// (`K`, `M`, `G`, `T`, optionally followed by `iB` or `B`, in any case:
/// `512M`, `4GiB`, `2kb`).
pub fn parse_byte_size(text: &str) -> Result<u64, ByteSizeError> {
    let bad = || ByteSizeError {
        text: text.to_string(),
    };
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    number.checked_mul(1 << shift).ok_or_else(bad)
}

/// A size [`parse_byte_size`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{text}' is not a size: write a number of bytes, or one with K, M, G or T (e.g. 512M, 4G)"
)]
pub struct ByteSizeError {
    text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_binary_units() {
        assert_eq!(parse_byte_size("1000"), Ok(1000));
        assert_eq!(parse_byte_size("512M"), Ok(512 << 20));
        assert_eq!(parse_byte_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_byte_size("2kb"), Ok(2048));
        assert!(parse_byte_size("").is_err());
        assert!(parse_byte_size("4X").is_err());
        assert!(parse_byte_size("-1").is_err());
        assert!(parse_byte_size("99999999999T").is_err());
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = resident_bytes().expect("VmRSS");
            assert!(rss > 1 << 20, "{rss}");
        }
    }
}
