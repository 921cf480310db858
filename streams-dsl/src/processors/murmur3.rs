//! MurmurHash3 x64 128-bit: the hash a foreign-key join sends along with a subscription, so
//! that a response computed for an older left value can be told apart from a current one.

/// The seed Kafka Streams' `Murmur3` uses by default.
pub(crate) const SEED: u64 = 104_729;

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

fn mix_k1(k: u64) -> u64 {
    k.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

fn mix_k2(k: u64) -> u64 {
    k.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Little-endian `u64` of up to 8 bytes (missing high bytes are zero).
fn le_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |k, (i, &b)| k | u64::from(b) << (8 * i))
}

/// The 128-bit hash of `data`: the first 64-bit half in the high bits.
pub(crate) fn hash128(data: &[u8], seed: u64) -> u128 {
    let (mut h1, mut h2) = (seed, seed);
    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        let (k1, k2) = block.split_at(8);
        h1 ^= mix_k1(le_u64(k1));
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix_k2(le_u64(k2));
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    if tail.len() > 8 {
        h2 ^= mix_k2(le_u64(&tail[8..]));
    }
    if !tail.is_empty() {
        h1 ^= mix_k1(le_u64(&tail[..tail.len().min(8)]));
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    u128::from(h1) << 64 | u128::from(h2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_vectors() {
        let cases: [(&str, u64, u64); 4] = [
            ("", 0, 0),
            ("hello", 0xcbd8_a7b3_41bd_9b02, 0x5b1e_906a_48ae_1d19),
            ("hello, world", 0x342f_ac62_3a5e_bc8e, 0x4cdc_bc07_9642_414d),
            (
                "19 Jan 2038 at 3:14:07 AM",
                0xb89e_5988_b737_affc,
                0x664f_c295_0231_b2cb,
            ),
        ];
        for (input, h1, h2) in cases {
            assert_eq!(
                hash128(input.as_bytes(), 0),
                u128::from(h1) << 64 | u128::from(h2),
                "{input:?}"
            );
        }
        assert_ne!(hash128(b"hello", SEED), hash128(b"hello", 0));
    }
}
