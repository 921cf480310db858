//! An index from serialized keys to their places in a table of one's own (a record cache's
//! slots, a join buffer's keys), built for a lookup per record: open addressing over one array of 8-byte slots (32 bits of the key's
//! hash and the place), so that a lookup costs one cache miss in the index before the
//! caller compares the key bytes it keeps at that place, and a fast seeded hash of the key
//! bytes instead of SipHash.
//!
//! The index does not keep the keys: [`KeyIndex::find`] asks the caller whether the key at
//! a place is the one sought. [`KeyBytes`] keeps short keys inline, so that the comparison
//! reads the same cache line as what the caller keeps beside it.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// An empty slot.
const EMPTY: u64 = 0;

/// Places of keys by the keys' hashes.
#[derive(Debug)]
pub struct KeyIndex {
    /// `(place + 1) << 32 | low 32 bits of the hash`, or [`EMPTY`].
    slots: Vec<u64>,
    len: usize,
    seed: u64,
}

impl Default for KeyIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyIndex {
    /// An empty index with a random hash seed.
    pub fn new() -> Self {
        Self {
            slots: vec![EMPTY; 16],
            len: 0,
            seed: RandomState::new().hash_one(0x9E37_79B9_7F4A_7C15_u64),
        }
    }

    /// The hash of `bytes`: 8 bytes at a time, multiplied and rotated, then mixed as
    /// MurmurHash3's finalizer mixes.
    #[inline]
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = self.seed ^ (bytes.len() as u64).wrapping_mul(MULTIPLIER);
        let mut words = bytes.chunks_exact(8);
        let mut word = [0u8; 8];
        for chunk in &mut words {
            word.copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(word))
                .wrapping_mul(MULTIPLIER)
                .rotate_left(31);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            h = (h ^ u64::from_le_bytes(word))
                .wrapping_mul(MULTIPLIER)
                .rotate_left(31);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^ (h >> 33)
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The place of the key hashed to `hash` for which `is_key` holds, if indexed.
    pub fn find(&self, hash: u64, is_key: impl Fn(usize) -> bool) -> Option<usize> {
        let tag = hash as u32;
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            let place = (slot >> 32) as usize - 1;
            if slot as u32 == tag && is_key(place) {
                return Some(place);
            }
            i = (i + 1) & mask;
        }
    }

    /// How many places are indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no place is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Indexes `place` (not yet indexed) under `hash`.
    pub fn insert(&mut self, hash: u64, place: usize) {
        // At most three quarters full: probes stay short, and the slots few enough to
        // stay in the core's caches.
        if 4 * (self.len + 1) > 3 * self.slots.len() {
            self.grow();
        }
        self.put(((place as u64 + 1) << 32) | (hash as u32 as u64));
        self.len += 1;
    }

    fn put(&mut self, slot: u64) {
        let mask = self.mask();
        let mut i = slot as u32 as usize & mask;
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY; 2 * self.slots.len()];
        let old = std::mem::replace(&mut self.slots, doubled);
        for slot in old.into_iter().filter(|&s| s != EMPTY) {
            self.put(slot);
        }
    }

    /// Removes `place`, indexed under `hash`; the slots after it that belong nearer their
    /// home move back, so that no lookup needs a tombstone.
    pub fn remove(&mut self, hash: u64, place: usize) {
        let mask = self.mask();
        let wanted = ((place as u64 + 1) << 32) | (hash as u32 as u64);
        let mut i = hash as u32 as usize & mask;
        while self.slots[i] != wanted {
            if self.slots[i] == EMPTY {
                return;
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = EMPTY;
        self.len -= 1;
        let mut j = (i + 1) & mask;
        while self.slots[j] != EMPTY {
            let home = self.slots[j] as u32 as usize & mask;
            // The slot at `j` may fill the hole at `i` if its home is not in (i, j].
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(i) & mask) {
                self.slots[i] = self.slots[j];
                self.slots[j] = EMPTY;
                i = j;
            }
            j = (j + 1) & mask;
        }
    }
}

/// The most bytes a key keeps inline.
const INLINE: usize = 22;

/// A key's bytes: inline up to 22 bytes (no heap block to miss in the cache when they are
/// compared), else on the heap.
#[derive(Clone, Debug)]
pub enum KeyBytes {
    /// Up to 22 bytes: the first `len` of `bytes`.
    Inline {
        /// How many of `bytes` are the key's.
        len: u8,
        /// The key's bytes, then zeros.
        bytes: [u8; INLINE],
    },
    /// Longer keys.
    Heap(Box<[u8]>),
}

impl KeyBytes {
    /// A copy of `bytes`.
    #[inline]
    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE {
            let mut inline = [0; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            KeyBytes::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            KeyBytes::Heap(bytes.into())
        }
    }

    /// A copy of `bytes` if they fit inline (no allocation), else `None`.
    #[inline]
    pub fn inline(bytes: &[u8]) -> Option<Self> {
        (bytes.len() <= INLINE).then(|| Self::new(bytes))
    }

    /// Whether these are the bytes `key`, given as a slice and, if short, as its inline
    /// copy ([`KeyBytes::inline`]), which compares as machine words.
    #[inline]
    pub fn matches(&self, key: &[u8], inline: Option<&KeyBytes>) -> bool {
        match inline {
            Some(probe) => self.same_as(probe),
            None => self.as_slice() == key,
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, bytes } => &bytes[..*len as usize],
            KeyBytes::Heap(bytes) => bytes,
        }
    }

    /// Whether `self` and `other` are the same bytes. Short keys compare as three machine
    /// words (their unused bytes are zeros), without a call to `memcmp`: a lookup per record
    /// compares a key this way against the one it finds in its table.
    #[inline]
    pub fn same_as(&self, other: &KeyBytes) -> bool {
        match (self, other) {
            (
                KeyBytes::Inline { len, bytes },
                KeyBytes::Inline {
                    len: other_len,
                    bytes: other_bytes,
                },
            ) => len == other_len && words(bytes) == words(other_bytes),
            (KeyBytes::Heap(bytes), KeyBytes::Heap(other_bytes)) => bytes == other_bytes,
            _ => false,
        }
    }

    /// What the bytes cost on the heap.
    pub fn heap_bytes(&self) -> usize {
        match self {
            KeyBytes::Inline { .. } => 0,
            KeyBytes::Heap(bytes) => bytes.len() + 16,
        }
    }
}

/// Inline bytes as two overlapping words (bytes 0..16 and 14..22).
#[inline]
fn words(bytes: &[u8; INLINE]) -> (u128, u64) {
    let mut low = [0u8; 16];
    low.copy_from_slice(&bytes[..16]);
    let mut high = [0u8; 8];
    high.copy_from_slice(&bytes[INLINE - 8..]);
    (u128::from_ne_bytes(low), u64::from_ne_bytes(high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_indexes_through_growth_and_removal() {
        let mut index = KeyIndex::new();
        let keys: Vec<Vec<u8>> = (0..2_000u32)
            .map(|i| format!("key-{i}-{}", "x".repeat(i as usize % 30)).into_bytes())
            .collect();
        for (place, key) in keys.iter().enumerate() {
            index.insert(index.hash(key), place);
        }
        let find = |index: &KeyIndex, key: &[u8]| index.find(index.hash(key), |p| keys[p] == key);
        for (place, key) in keys.iter().enumerate() {
            assert_eq!(find(&index, key), Some(place));
        }
        assert_eq!(find(&index, b"absent"), None);
        for (place, key) in keys.iter().enumerate().filter(|(p, _)| p % 3 != 0) {
            index.remove(index.hash(key), place);
        }
        for (place, key) in keys.iter().enumerate() {
            let expected = (place % 3 == 0).then_some(place);
            assert_eq!(find(&index, key), expected, "{place}");
        }
    }

    #[test]
    fn key_bytes_round_trip_inline_and_on_the_heap() {
        for len in [0, 1, INLINE, INLINE + 1, 100] {
            let bytes: Vec<u8> = (0..len as u8).collect();
            let key = KeyBytes::new(&bytes);
            assert_eq!(key.as_slice(), bytes.as_slice());
            assert_eq!(key.heap_bytes() > 0, len > INLINE);
        }
    }

    #[test]
    fn same_as_compares_every_byte_and_the_length() {
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            b"k1".to_vec(),
            b"k10".to_vec(),
            (0..INLINE as u8).collect(),
            (0..INLINE as u8).rev().collect(),
            (0..INLINE as u8 + 1).collect(),
            (0..40).collect(),
            (1..41).collect(),
        ];
        for a in &keys {
            for b in &keys {
                let same = KeyBytes::new(a).same_as(&KeyBytes::new(b));
                assert_eq!(same, a == b, "{a:?} vs {b:?}");
            }
        }
        // A difference in any single byte is seen.
        for at in 0..INLINE {
            let a: Vec<u8> = vec![7; INLINE];
            let mut b = a.clone();
            b[at] = 8;
            assert!(!KeyBytes::new(&a).same_as(&KeyBytes::new(&b)), "byte {at}");
        }
    }
}
