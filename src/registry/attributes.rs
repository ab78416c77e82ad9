//! An instance's attributes, packed: a million instances each carrying a
//! handful of short attributes would spend most of their memory on a map's
//! nodes and one allocation per key and per value.
//!
//! [`Attributes`] keeps every pair in one buffer, in key order, and the
//! reserved keys (`AWS_INSTANCE_IPV4`, …) as a single byte each. It reads like
//! a small sorted map; the store and the admin API write it out as one.

use std::collections::BTreeMap;
use std::fmt;

/// The attributes Cloud Map reserves for what DNS serves.
pub const ATTR_IPV4: &str = "AWS_INSTANCE_IPV4";
pub const ATTR_IPV6: &str = "AWS_INSTANCE_IPV6";
pub const ATTR_PORT: &str = "AWS_INSTANCE_PORT";
pub const ATTR_CNAME: &str = "AWS_INSTANCE_CNAME";
pub const ATTR_INIT_HEALTH: &str = "AWS_INIT_HEALTH_STATUS";
/// cairn's extension: a WEIGHTED service picks instances in proportion to it.
pub const ATTR_WEIGHT: &str = "weight";

/// Keys most instances carry, written as their index instead of their text.
/// Append only: the encoding lives in memory alone, but reordering would
/// still be a needless change.
const WELL_KNOWN: [&str; 6] = [
    ATTR_IPV4,
    ATTR_IPV6,
    ATTR_PORT,
    ATTR_CNAME,
    ATTR_INIT_HEALTH,
    ATTR_WEIGHT,
];

/// Numbers are written six bits to a byte, least significant first, with
/// this bit set on every byte but the last. Every byte stays ASCII, so the
/// buffer is a `str` whatever the attributes hold, and lengths below 64 take
/// one byte.
const MORE: u8 = 0x40;

/// Key → value, in key order, as registered.
///
/// Layout, entry after entry: the key's code, then (for a key that is not
/// well known) its text, then the value's length and text. A key's code is
/// its index in `WELL_KNOWN`, or `WELL_KNOWN.len()` plus the length of its
/// text. The encoding is canonical, so equal maps have equal buffers.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Attributes(Box<str>);

impl Attributes {
    /// The value of `key`, if the instance has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(candidate, _)| *candidate == key)
            .map(|(_, value)| value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every pair, in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.0 }
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attributes as the map they were registered from.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }
}

fn push_number(buffer: &mut String, mut number: usize) {
    loop {
        let low = (number & 0x3f) as u8;
        number >>= 6;
        if number == 0 {
            buffer.push(char::from(low));
            return;
        }
        buffer.push(char::from(low | MORE));
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Attributes {
    /// Pairs must come in key order with no key twice, as a map's do.
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Self {
        let mut buffer = String::new();
        for (key, value) in pairs {
            match WELL_KNOWN.iter().position(|known| *known == key) {
                Some(index) => push_number(&mut buffer, index),
                None => {
                    push_number(&mut buffer, WELL_KNOWN.len() + key.len());
                    buffer.push_str(key);
                }
            }
            push_number(&mut buffer, value.len());
            buffer.push_str(value);
        }
        Self(buffer.into_boxed_str())
    }
}

impl From<&BTreeMap<String, String>> for Attributes {
    fn from(map: &BTreeMap<String, String>) -> Self {
        map.iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect()
    }
}

impl From<BTreeMap<String, String>> for Attributes {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self::from(&map)
    }
}

/// Compares with a registration's map, as re-applying a zones file does.
impl PartialEq<BTreeMap<String, String>> for Attributes {
    fn eq(&self, other: &BTreeMap<String, String>) -> bool {
        let mut mine = self.iter();
        other
            .iter()
            .all(|(key, value)| mine.next() == Some((key.as_str(), value.as_str())))
            && mine.next().is_none()
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The pairs of an [`Attributes`], in key order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a str,
}

impl<'a> Iter<'a> {
    /// `None` only if the buffer ends early, which no buffer built by
    /// `Attributes` does; the iteration then simply stops.
    fn number(&mut self) -> Option<usize> {
        let mut number = 0usize;
        for (index, byte) in self.rest.bytes().enumerate() {
            let bits = usize::from(byte & 0x3f).checked_shl(6 * index as u32)?;
            number |= bits;
            if byte & MORE == 0 {
                self.rest = self.rest.get(index + 1..)?;
                return Some(number);
            }
        }
        None
    }

    fn text(&mut self, len: usize) -> Option<&'a str> {
        let text = self.rest.get(..len)?;
        self.rest = self.rest.get(len..)?;
        Some(text)
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let code = self.number()?;
        let key = match WELL_KNOWN.get(code) {
            Some(known) => *known,
            None => self.text(code - WELL_KNOWN.len())?,
        };
        let len = self.number()?;
        let value = self.text(len)?;
        Some((key, value))
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn reads_back_every_pair_in_key_order() {
        let long_key = "k".repeat(300);
        let long_value = "v".repeat(5000);
        let registered = map(&[
            ("AWS_INSTANCE_PORT", "8080"),
            ("AWS_INSTANCE_IPV4", "10.0.0.1"),
            ("zone", "a"),
            ("", ""),
            (&long_key, &long_value),
            ("weight", "3"),
            ("AWS_INSTANCE_IPV4_NOT", "x"),
            ("a\u{0}b\u{7f}é", "\u{1}\u{40}ü"),
        ]);
        let attributes = Attributes::from(&registered);
        let read: Vec<(&str, &str)> = attributes.iter().collect();
        let expected: Vec<(&str, &str)> = registered
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        assert_eq!(read, expected);
        assert_eq!(attributes.len(), registered.len());
        assert_eq!(attributes.to_map(), registered);
        assert_eq!(attributes, registered);
        assert_eq!(attributes.get("AWS_INSTANCE_IPV4"), Some("10.0.0.1"));
        assert_eq!(attributes.get(&long_key), Some(long_value.as_str()));
        assert_eq!(attributes.get("zone"), Some("a"));
        assert_eq!(attributes.get("ZONE"), None);
        assert_eq!(attributes.get("AWS_INSTANCE_IPV6"), None);
    }

    #[test]
    fn reserved_keys_take_one_byte() {
        let attributes = Attributes::from(map(&[
            ("AWS_INSTANCE_IPV4", "10.0.0.1"),
            ("AWS_INSTANCE_IPV6", "fd00::1"),
            ("AWS_INSTANCE_PORT", "8080"),
        ]));
        // Three codes, three lengths, and the values' text.
        assert_eq!(attributes.0.len(), 3 + 3 + "10.0.0.1fd00::18080".len());
    }

    #[test]
    fn an_empty_map_allocates_nothing() {
        // The buffer is a `Box<str>`, and a box of zero bytes never calls
        // the allocator: an empty map allocates nothing exactly when its
        // encoding is zero bytes long.
        for attributes in [
            Attributes::from(BTreeMap::new()),
            Attributes::default(),
            std::iter::empty().collect(),
        ] {
            assert_eq!(std::mem::size_of_val::<str>(&attributes.0), 0);
        }
        let attributes = Attributes::from(BTreeMap::new());
        assert!(attributes.is_empty());
        assert_eq!(attributes.len(), 0);
        assert_eq!(attributes.iter().next(), None);
        assert_eq!(attributes, BTreeMap::new());
    }

    #[test]
    fn compares_with_a_map_pair_by_pair() {
        let attributes = Attributes::from(map(&[("a", "1"), ("b", "2")]));
        assert_eq!(attributes, map(&[("a", "1"), ("b", "2")]));
        assert_ne!(attributes, map(&[("a", "1")]));
        assert_ne!(attributes, map(&[("a", "1"), ("b", "2"), ("c", "3")]));
        assert_ne!(attributes, map(&[("a", "1"), ("b", "3")]));
    }
}
