//! The key layout of the segmented RocksDB stores (window and session).
//!
//! A record's engine key is
//!
//! ```text
//! [segment id: 8 bytes][key bytes][time: 8 bytes]...[key length: 4 bytes big-endian]
//! ```
//!
//! where the segment id and each time are written big-endian with the sign bit flipped, so
//! that they sort as signed numbers (negative first). A window has one time (its start), a
//! session two (its end, then its start); the segment is that of the first time. The trailing
//! key length makes the layout unambiguous whatever bytes the key holds. All keys of one
//! segment share its 8-byte prefix, so a segment is dropped with one range delete.
//!
//! Within a segment the keys do not sort by (key bytes, time) when one key is a prefix of
//! another, so readers decode, filter and sort what they scan.
//!
//! The empty key, which no record can have (every record key is at least 20 bytes long), is
//! reserved for the store's metadata.

/// The reserved key of a store's metadata; it sorts before every segment.
pub(crate) const META_KEY: &[u8] = b"";

/// `v` as 8 bytes that sort, byte by byte, as `v` does among signed numbers.
pub(crate) fn ordered(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// The inverse of [`ordered`].
fn from_ordered(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// The prefix shared by every key of segment `id`.
pub(crate) fn segment_prefix(id: i64) -> [u8; 8] {
    ordered(id)
}

/// A key without its segment prefix: the key bytes, the times, the key length. `None` if
/// the key is too long for its length field.
pub(crate) fn suffix(key: &[u8], times: &[i64]) -> Option<Vec<u8>> {
    let length = u32::try_from(key.len()).ok()?;
    let mut out = Vec::with_capacity(key.len() + 8 * times.len() + 4);
    out.extend_from_slice(key);
    for &t in times {
        out.extend_from_slice(&ordered(t));
    }
    out.extend_from_slice(&length.to_be_bytes());
    Some(out)
}

/// The key bytes and the times, without segment or key length: every record of `key` whose
/// first times are `times` sorts at or after it within its segment.
pub(crate) fn lower_bound(key: &[u8], times: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 8 * times.len());
    out.extend_from_slice(key);
    for &t in times {
        out.extend_from_slice(&ordered(t));
    }
    out
}

/// The engine key of a record in segment `id`; `None` if the key is too long.
pub(crate) fn encode(id: i64, key: &[u8], times: &[i64]) -> Option<Vec<u8>> {
    // Built in place (not as `with_segment` of a `suffix`): one allocation per write.
    let length = u32::try_from(key.len()).ok()?;
    let mut out = Vec::with_capacity(8 + key.len() + 8 * times.len() + 4);
    out.extend_from_slice(&segment_prefix(id));
    out.extend_from_slice(key);
    for &t in times {
        out.extend_from_slice(&ordered(t));
    }
    out.extend_from_slice(&length.to_be_bytes());
    Some(out)
}

/// `suffix` prefixed by segment `id`.
pub(crate) fn with_segment(id: i64, suffix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + suffix.len());
    out.extend_from_slice(&segment_prefix(id));
    out.extend_from_slice(suffix);
    out
}

/// The segment of an engine key; `None` for a key shorter than a segment prefix.
pub(crate) fn segment_of(engine_key: &[u8]) -> Option<i64> {
    Some(from_ordered(engine_key.get(..8)?.try_into().ok()?))
}

/// The key bytes and the `N` times of an engine key; `None` if it does not follow the layout.
pub(crate) fn decode<const N: usize>(engine_key: &[u8]) -> Option<(&[u8], [i64; N])> {
    let length_at = engine_key.len().checked_sub(4)?;
    let length = u32::from_be_bytes(engine_key[length_at..].try_into().ok()?);
    let key_end = 8usize.checked_add(usize::try_from(length).ok()?)?;
    if key_end.checked_add(8 * N)? != length_at {
        return None;
    }
    let mut times = [0i64; N];
    for (i, time) in times.iter_mut().enumerate() {
        let at = key_end + 8 * i;
        *time = from_ordered(engine_key[at..at + 8].try_into().ok()?);
    }
    Some((&engine_key[8..key_end], times))
}

/// Whether `key` lies within `[from, to]`, an open end being unbounded.
pub(crate) fn key_in_range(key: &[u8], from: Option<&[u8]>, to: Option<&[u8]>) -> bool {
    from.is_none_or(|from| key >= from) && to.is_none_or(|to| key <= to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort_by_segment_then_time() {
        let window = encode(-3, b"ab", &[-170_000]).unwrap();
        assert_eq!(window.len(), 8 + 2 + 8 + 4);
        assert_eq!(segment_of(&window), Some(-3));
        assert_eq!(decode::<1>(&window), Some((&b"ab"[..], [-170_000])));
        assert_eq!(decode::<2>(&window), None);
        let session = encode(i64::MAX, b"", &[i64::MAX, i64::MIN]).unwrap();
        assert_eq!(
            decode::<2>(&session),
            Some((&b""[..], [i64::MAX, i64::MIN]))
        );
        assert!(encode(-1, b"k", &[5]).unwrap() < encode(0, b"k", &[-5]).unwrap());
        assert!(encode(0, b"k", &[-5]).unwrap() < encode(0, b"k", &[5]).unwrap());
        assert!(META_KEY < &segment_prefix(i64::MIN)[..]);
        assert_eq!(decode::<1>(b"short"), None);
    }
}
