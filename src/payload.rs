//! Owned payloads that share buffers instead of copying them: [`Bytes`]
//! for binary data and [`Utf8Bytes`] for text.
//!
//! A large message received in place is handed out as a slice of the
//! read buffer ([`Connection::take_message`](crate::Connection::take_message),
//! the drivers' [`Message`](crate::Message)), and one reassembled from
//! frames is its own buffer, so neither is copied; cloning either is a
//! reference count. A message that shares the read buffer keeps that
//! allocation (at most about twice the 64 KiB read) alive while it is
//! held: copy it (`Bytes::copy_from_slice`) to keep it for long.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use core::borrow::Borrow;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Deref;
use core::str::Utf8Error;

/// UTF-8 text in [`Bytes`]: a text message's payload, cheap to clone and
/// to pass between tasks, and a `&str` through `Deref`.
///
/// ```
/// use rfc6455::Utf8Bytes;
///
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text, "héllo");
/// assert_eq!(text.len(), 6);
/// assert!(Utf8Bytes::try_from(vec![0xff]).is_err());
/// let owned: String = text.into();
/// assert_eq!(owned, "héllo");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Utf8Bytes(
    // Invariant: valid UTF-8. Every constructor checks it or takes it
    // from a `str`, except `from_bytes_unchecked`, whose callers prove it.
    Bytes,
);

impl Utf8Bytes {
    /// Text from a `&'static str`, without a copy.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Bytes the caller knows to be UTF-8: text the crate's validator
    /// accepted as it arrived (bench `receive_driver`, text: validating a
    /// whole message again cost more than receiving it).
    ///
    /// # Safety
    ///
    /// `bytes` must be valid UTF-8.
    #[cfg(feature = "std")]
    #[allow(unsafe_code)]
    pub(crate) unsafe fn from_bytes_unchecked(bytes: Bytes) -> Self {
        debug_assert!(core::str::from_utf8(&bytes).is_ok(), "not UTF-8");
        Self(bytes)
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        #[allow(unsafe_code)]
        // SAFETY: the field is valid UTF-8 (the type's invariant); `Bytes`
        // is immutable, so it stays so.
        unsafe {
            core::str::from_utf8_unchecked(&self.0)
        }
    }

    /// The text's UTF-8 bytes, owned, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The text's UTF-8 bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// As `str` hashes, so that `Borrow<str>` finds it in a `HashMap` (`Bytes`
// hashes as `[u8]`, with a length prefix).
impl Hash for Utf8Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Utf8Bytes {
    #[inline]
    fn from(text: String) -> Self {
        Self(Bytes::from(text.into_bytes()))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

impl From<Box<str>> for Utf8Bytes {
    #[inline]
    fn from(text: Box<str>) -> Self {
        Self(Bytes::from(text.into_boxed_bytes()))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;

    /// Checks that `bytes` are UTF-8.
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        core::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = alloc::string::FromUtf8Error;

    /// Checks that `bytes` are UTF-8.
    fn try_from(bytes: Vec<u8>) -> Result<Self, Self::Error> {
        Ok(Self::from(String::from_utf8(bytes)?))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl From<Utf8Bytes> for String {
    /// Without a copy when the text owns its buffer alone (a message
    /// reassembled from frames); copied when it shares one.
    fn from(text: Utf8Bytes) -> Self {
        let bytes = Vec::from(text.0);
        #[allow(unsafe_code)]
        // SAFETY: the bytes are the `Utf8Bytes`' own, valid UTF-8 by its
        // invariant; `Vec::from(Bytes)` keeps them as they were.
        unsafe {
            String::from_utf8_unchecked(bytes)
        }
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Utf8Bytes> for str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for &str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for String {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn only_utf8_gets_in() {
        assert!(Utf8Bytes::try_from(Bytes::from_static(b"ok \xc3\xa9")).is_ok());
        // A lone continuation byte, a cut sequence, a surrogate.
        for bad in [&b"\x80"[..], b"\xc3", b"\xed\xa0\x80"] {
            assert!(Utf8Bytes::try_from(Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
            assert!(Utf8Bytes::try_from(bad.to_vec()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn it_is_the_text_it_was_made_from() {
        let text = Utf8Bytes::from("zß水🍌".to_string());
        assert_eq!(text.as_str(), "zß水🍌");
        assert_eq!(&*text, "zß水🍌");
        assert_eq!(text.to_string(), "zß水🍌");
        assert_eq!(alloc::format!("{text:?}"), "\"zß水🍌\"");
        assert_eq!(String::from(text.clone()), "zß水🍌");
        assert_eq!(Bytes::from(text), "zß水🍌".as_bytes());
        assert_eq!(Utf8Bytes::from_static(""), Utf8Bytes::default());
    }

    // `Borrow<str>` promises `str`'s hash: a map keyed by `Utf8Bytes` is
    // searched with a `&str`.
    #[test]
    fn it_is_found_by_its_str() {
        let mut map = std::collections::HashMap::new();
        map.insert(Utf8Bytes::from("key"), 1);
        assert_eq!(map.get("key"), Some(&1));
    }
}
