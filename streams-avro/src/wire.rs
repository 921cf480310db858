//! The Schema Registry wire format: magic byte 0, the writer's schema id as 4 bytes
//! big-endian, then the Avro binary encoding of the value.

use streams_core::SerdeError;

/// The first byte of every framed value.
pub const MAGIC_BYTE: u8 = 0;

/// The length of the frame's header: the magic byte and the schema id.
pub const HEADER_LEN: usize = 5;

/// Appends the header of a value written with schema `id`.
pub fn write_header(id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&id.to_be_bytes());
}

/// The schema id and the Avro body of a framed value.
///
/// ```
/// use streams_avro::wire;
///
/// assert_eq!(wire::split(&[0, 0, 0, 1, 2, 0x06]).unwrap(), (258, &[0x06][..]));
/// assert!(wire::split(&[1, 0, 0, 0, 1]).is_err());
/// ```
pub fn split(data: &[u8]) -> Result<(u32, &[u8]), SerdeError> {
    match data {
        [MAGIC_BYTE, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        [MAGIC_BYTE, ..] => Err(SerdeError::WireFormat(format!(
            "{} bytes, shorter than the 5-byte header",
            data.len()
        ))),
        [other, ..] => Err(SerdeError::WireFormat(format!(
            "magic byte {other}, expected {MAGIC_BYTE}"
        ))),
        [] => Err(SerdeError::WireFormat("no bytes".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The framing that Confluent's `AbstractKafkaSchemaSerDe` documents: byte 0 is the magic
    /// byte 0, bytes 1-4 the schema id in network byte order, the rest the Avro binary data.
    #[test]
    fn frames_follow_the_published_layout() {
        let mut out = Vec::new();
        write_header(0x0102_0304, &mut out);
        // The Avro binary encoding of the string "ab": its length 2 as a zig-zag varint (4),
        // then the bytes.
        out.extend_from_slice(&[0x04, b'a', b'b']);
        assert_eq!(out, [0, 1, 2, 3, 4, 0x04, b'a', b'b']);
        assert_eq!(split(&out).unwrap(), (0x0102_0304, &[0x04, b'a', b'b'][..]));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        for bad in [&[][..], &[0, 0, 0, 1][..], &[2, 0, 0, 0, 1, 0][..]] {
            assert!(
                matches!(split(bad), Err(SerdeError::WireFormat(_))),
                "{bad:?}"
            );
        }
        // A header with an empty body is a frame: a body may be empty (Avro null).
        assert_eq!(split(&[0, 0, 0, 0, 7]).unwrap(), (7, &[][..]));
    }
}
