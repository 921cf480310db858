//! A least-recently-used map from byte keys to values, with O(1) access, touch and eviction.
//!
//! Keys are found through a [`KeyIndex`] (one 8-byte slot per key, a fast hash) and kept
//! inline in their slot when short, so that a lookup costs a miss in the index and one in
//! the slot, not also one in the key's heap block.

use super::key_index::{KeyBytes, KeyIndex};

const NONE: usize = usize::MAX;

struct Slot<T> {
    key: KeyBytes,
    value: T,
}

/// A slot's neighbours in the order of use, kept apart from the slots: relinking an entry
/// touches its neighbours' links, which stay in the core's caches as a compact array
/// where the slots themselves would not.
#[derive(Clone, Copy)]
struct Link {
    /// Towards the most recently used end.
    newer: usize,
    /// Towards the least recently used end.
    older: usize,
}

/// Entries by key, in order of use: a doubly linked list threaded through a slab.
pub(crate) struct Lru<T> {
    slots: Vec<Option<Slot<T>>>,
    /// The links of `slots`, by the same positions.
    links: Vec<Link>,
    free: Vec<usize>,
    index: KeyIndex,
    newest: usize,
    oldest: usize,
}

impl<T> Default for Lru<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            index: KeyIndex::new(),
            newest: NONE,
            oldest: NONE,
        }
    }
}

impl<T> Lru<T> {
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    fn slot(&mut self, i: usize) -> &mut Slot<T> {
        self.slots[i].as_mut().expect("linked slots are occupied")
    }

    fn unlink(&mut self, i: usize) {
        let Link { newer, older } = self.links[i];
        if newer == NONE {
            self.newest = older;
        } else {
            self.links[newer].older = older;
        }
        if older == NONE {
            self.oldest = newer;
        } else {
            self.links[older].newer = newer;
        }
    }

    fn link_newest(&mut self, i: usize) {
        let old_newest = self.newest;
        self.links[i] = Link {
            newer: NONE,
            older: old_newest,
        };
        if old_newest == NONE {
            self.oldest = i;
        } else {
            self.links[old_newest].newer = i;
        }
        self.newest = i;
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        let inline = KeyBytes::inline(key);
        self.index.find(hash, |i| {
            slots[i]
                .as_ref()
                .is_some_and(|s| s.key.matches(key, inline.as_ref()))
        })
    }

    /// The value of `key`, marked as most recently used.
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut T> {
        let i = self.find(self.index.hash(key), key)?;
        self.touch(i)
    }

    /// Marks slot `i` as most recently used; its value.
    fn touch(&mut self, i: usize) -> Option<&mut T> {
        if self.newest == i {
            return Some(&mut self.slot(i).value);
        }
        self.unlink(i);
        self.link_newest(i);
        Some(&mut self.slot(i).value)
    }

    /// Inserts or replaces `key`'s value, marked as most recently used; returns the old value.
    pub(crate) fn insert(&mut self, key: &[u8], value: T) -> Option<T> {
        let hash = self.index.hash(key);
        if let Some(i) = self.find(hash, key) {
            let slot = self.touch(i)?;
            return Some(std::mem::replace(slot, value));
        }
        let slot = Slot {
            key: KeyBytes::new(key),
            value,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.links.push(Link {
                    newer: NONE,
                    older: NONE,
                });
                self.slots.len() - 1
            }
        };
        self.index.insert(hash, i);
        self.link_newest(i);
        None
    }

    /// Removes and returns the least recently used entry.
    pub(crate) fn pop_oldest(&mut self) -> Option<(Vec<u8>, T)> {
        let i = self.oldest;
        if i == NONE {
            return None;
        }
        self.unlink(i);
        let slot = self.slots[i].take().expect("linked slots are occupied");
        self.free.push(i);
        let key = slot.key.as_slice();
        self.index.remove(self.index.hash(key), i);
        Some((key.to_vec(), slot.value))
    }

    /// Hands every entry to `f`, least recently used first, for flushing; the map keeps
    /// them, in their order.
    pub(crate) fn for_each_oldest_first(&mut self, mut f: impl FnMut(&[u8], &mut T)) {
        let mut i = self.oldest;
        while i != NONE {
            let slot = self.slot(i);
            f(slot.key.as_slice(), &mut slot.value);
            i = self.links[i].newer;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_first() {
        let mut lru = Lru::default();
        lru.insert(b"a", 1);
        lru.insert(b"b", 2);
        lru.insert(b"c", 3);
        assert_eq!(lru.get_mut(b"a"), Some(&mut 1)); // a is now the newest
        assert_eq!(lru.insert(b"b", 20), Some(2)); // b too
        assert_eq!(lru.pop_oldest(), Some((b"c".to_vec(), 3)));
        lru.insert(b"d", 4);
        assert_eq!(lru.pop_oldest(), Some((b"a".to_vec(), 1)));
        assert_eq!(lru.pop_oldest(), Some((b"b".to_vec(), 20)));
        assert_eq!(lru.len(), 1);
        assert_eq!(lru.pop_oldest(), Some((b"d".to_vec(), 4)));
        assert_eq!(lru.pop_oldest(), None);
        assert_eq!(lru.get_mut(b"a"), None);
    }
}
