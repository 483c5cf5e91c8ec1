//! [`RcStr`]: the evaluator's string, one thin pointer to a shared,
//! immutable allocation holding a reference count, the length and the
//! bytes.
//!
//! Why not `Rc<str>` or `arcstr::ArcStr`: `Rc<str>` is a fat pointer, which
//! would make every [`crate::Value`] a word larger; `ArcStr` is thin but
//! counts atomically, and string values are copied and dropped on every
//! variable lookup, list element and attribute (an atomic
//! read-modify-write costs several times a plain increment). Values never
//! leave the evaluating thread (they hold `Rc`s), so the count need not be
//! atomic; `RcStr` is neither `Send` nor `Sync`.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::Borrow;
use std::cell::Cell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;

/// What precedes the bytes in an allocation.
#[repr(C)]
struct Header {
    count: Cell<usize>,
    len: usize,
}

/// An immutable, reference-counted, non-atomic UTF-8 string, one pointer
/// wide.
pub struct RcStr(NonNull<Header>);

impl RcStr {
    /// An empty string.
    pub fn new() -> RcStr {
        RcStr::from("")
    }

    /// A string of `len` bytes written by `fill` into a zeroed buffer, or
    /// the UTF-8 error if `fill` wrote something else.
    pub fn init_with(
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<RcStr, std::str::Utf8Error> {
        let string = RcStr::allocate(len);
        // SAFETY: the allocation is unshared and `len` bytes long after
        // the header; zeroing it makes it initialised for `fill`.
        let bytes = unsafe {
            let data = string.data_ptr();
            data.write_bytes(0, len);
            std::slice::from_raw_parts_mut(data, len)
        };
        fill(bytes);
        std::str::from_utf8(bytes)?;
        Ok(string)
    }

    /// The concatenation of `parts`, copied once into an allocation of
    /// the exact size.
    pub fn concat(parts: &[&str]) -> RcStr {
        let len = parts
            .iter()
            .try_fold(0usize, |len, p| len.checked_add(p.len()))
            .expect("a string shorter than isize::MAX");
        let string = RcStr::allocate(len);
        let mut at = string.data_ptr();
        for part in parts {
            // SAFETY: the allocation is unshared and has room for the
            // parts' `len` bytes in total after the header.
            unsafe {
                std::ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
                at = at.add(part.len());
            }
        }
        // Concatenated `str`s are UTF-8: `as_str` may trust the bytes.
        string
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checked (or copied from a `str`) the
        // `len` bytes after the header, which are never written again.
        unsafe {
            let bytes = std::slice::from_raw_parts(self.data_ptr(), self.header().len);
            std::str::from_utf8_unchecked(bytes)
        }
    }

    /// An allocation for `len` bytes with a count of one; the bytes are
    /// left uninitialised.
    fn allocate(len: usize) -> RcStr {
        let layout = RcStr::layout(len);
        // SAFETY: the layout is never zero-sized (it holds the header).
        let ptr = unsafe { alloc(layout) }.cast::<Header>();
        let Some(ptr) = NonNull::new(ptr) else {
            handle_alloc_error(layout);
        };
        // SAFETY: freshly allocated with room and alignment for a header.
        unsafe {
            ptr.as_ptr().write(Header {
                count: Cell::new(1),
                len,
            })
        };
        RcStr(ptr)
    }

    fn layout(len: usize) -> Layout {
        Layout::new::<Header>()
            .extend(Layout::array::<u8>(len).expect("a string shorter than isize::MAX"))
            .expect("a string shorter than isize::MAX")
            .0
            .pad_to_align()
    }

    fn header(&self) -> &Header {
        // SAFETY: the pointer stays valid while `self` holds a count.
        unsafe { self.0.as_ref() }
    }

    fn data_ptr(&self) -> *mut u8 {
        // SAFETY: the bytes start right after the header, inside the
        // same allocation (`layout`).
        unsafe { self.0.as_ptr().add(1).cast::<u8>() }
    }
}

impl Clone for RcStr {
    #[inline]
    fn clone(&self) -> RcStr {
        let count = &self.header().count;
        let more = count.get().wrapping_add(1);
        // As `Rc` does: overflowing the count would free a string still
        // in use; it takes leaking `usize::MAX` copies, so stop there.
        if more == 0 {
            std::process::abort();
        }
        count.set(more);
        RcStr(self.0)
    }
}

impl Drop for RcStr {
    #[inline]
    fn drop(&mut self) {
        let count = &self.header().count;
        let left = count.get() - 1;
        count.set(left);
        if left == 0 {
            self.free();
        }
    }
}

impl RcStr {
    /// Out of line, so that dropping a [`crate::Value`], which mostly
    /// only decrements a count, stays small where it is inlined.
    #[cold]
    #[inline(never)]
    fn free(&mut self) {
        let layout = RcStr::layout(self.header().len);
        // SAFETY: the last count was just given up; nothing else can
        // reach the allocation, which `allocate` made with this layout.
        unsafe { dealloc(self.0.as_ptr().cast::<u8>(), layout) };
    }
}

impl Default for RcStr {
    fn default() -> RcStr {
        RcStr::new()
    }
}

impl Deref for RcStr {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for RcStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for RcStr {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for RcStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for RcStr {
    fn from(s: &str) -> RcStr {
        let string = RcStr::allocate(s.len());
        // SAFETY: the allocation has room for `s.len()` bytes after the
        // header and is unshared.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), string.data_ptr(), s.len()) };
        string
    }
}

impl From<String> for RcStr {
    fn from(s: String) -> RcStr {
        RcStr::from(s.as_str())
    }
}

impl From<&String> for RcStr {
    fn from(s: &String) -> RcStr {
        RcStr::from(s.as_str())
    }
}

impl From<Box<str>> for RcStr {
    fn from(s: Box<str>) -> RcStr {
        RcStr::from(&*s)
    }
}

impl From<std::borrow::Cow<'_, str>> for RcStr {
    fn from(s: std::borrow::Cow<'_, str>) -> RcStr {
        RcStr::from(&*s)
    }
}

impl From<RcStr> for String {
    fn from(s: RcStr) -> String {
        s.as_str().to_owned()
    }
}

impl PartialEq for RcStr {
    #[inline]
    fn eq(&self, other: &RcStr) -> bool {
        self.0 == other.0 || self.as_str() == other.as_str()
    }
}

impl Eq for RcStr {}

impl PartialEq<str> for RcStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RcStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<RcStr> for str {
    fn eq(&self, other: &RcStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<RcStr> for &str {
    fn eq(&self, other: &RcStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for RcStr {
    fn partial_cmp(&self, other: &RcStr) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RcStr {
    fn cmp(&self, other: &RcStr) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for RcStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for RcStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for RcStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(s: &RcStr) -> usize {
        s.header().count.get()
    }

    #[test]
    fn copies_share_one_allocation_until_the_last_is_dropped() {
        let a = RcStr::from("word42");
        let b = a.clone();
        assert_eq!(count(&a), 2);
        assert!(std::ptr::eq(a.as_ptr(), b.as_ptr()));
        drop(a);
        assert_eq!(count(&b), 1);
        assert_eq!(&*b, "word42");
    }

    #[test]
    fn strings_compare_hash_and_print_as_their_text() {
        use std::collections::HashSet;
        let (a, b) = (RcStr::from("é-a"), RcStr::from(String::from("é-a")));
        assert_eq!(a, b);
        assert_eq!(a, "é-a");
        let (lesser, greater) = (RcStr::from("a"), RcStr::from("b"));
        assert!(lesser < greater);
        assert_eq!(format!("{a} {a:?}"), "é-a \"é-a\"");
        let set: HashSet<RcStr> = [a.clone()].into_iter().collect();
        assert!(set.contains("é-a"));
        assert_eq!(RcStr::new().len(), 0);
        assert_eq!(RcStr::default(), "");
    }

    #[test]
    fn concat_copies_every_part_in_order() {
        assert_eq!(&*RcStr::concat(&["word", "", "42", "é"]), "word42é");
        assert_eq!(&*RcStr::concat(&[]), "");
        let long = "x".repeat(300);
        assert_eq!(RcStr::concat(&[&long, "-", &long]).len(), 601);
    }

    #[test]
    fn init_with_fills_the_bytes_and_refuses_what_is_not_utf8() {
        let s = RcStr::init_with(3, |buf| buf.copy_from_slice(b"abc")).unwrap();
        assert_eq!(&*s, "abc");
        assert!(RcStr::init_with(1, |buf| buf[0] = 0xff).is_err());
        assert_eq!(&*RcStr::init_with(0, |_| {}).unwrap(), "");
    }
}
