//! The byte layout shared by the processors' own stored values (suppression buffers, pane
//! states): fixed-width numbers big-endian, and values behind a 4-byte length.

use streams_core::{Encoded, Headers, SerdeError, SerdeRef};

/// Appends `value`'s encoding in `inner` behind its length, 4 bytes big-endian. A value that
/// encodes as a null cannot be stored this way: an error.
pub(crate) fn put_prefixed<V>(
    inner: &SerdeRef<V>,
    topic: &str,
    headers: &mut Headers,
    value: &V,
    out: &mut Vec<u8>,
) -> Result<(), SerdeError> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    if inner.serialize(topic, headers, value, out)? == Encoded::Null {
        return Err(SerdeError::Custom(
            "a stored value cannot encode as a null".to_owned(),
        ));
    }
    let length = out.len() - at - 4;
    let length = u32::try_from(length).map_err(|_| SerdeError::InvalidLength {
        expected: u32::MAX as usize,
        actual: length,
    })?;
    out[at..at + 4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

/// Reads a stored value front to back; each read fails with a typed error on short input.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader of `data`; a null is an error.
    pub(crate) fn new(data: Option<&'a [u8]>) -> Result<Self, SerdeError> {
        Ok(Self {
            data: data.ok_or(SerdeError::UnexpectedNull)?,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SerdeError> {
        let (head, tail) = self
            .data
            .split_at_checked(n)
            .ok_or(SerdeError::InvalidLength {
                expected: n,
                actual: self.data.len(),
            })?;
        self.data = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SerdeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, SerdeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, SerdeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, SerdeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, SerdeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// A value written by [`put_prefixed`], decoded with `inner`.
    pub(crate) fn prefixed<V>(
        &mut self,
        inner: &SerdeRef<V>,
        topic: &str,
        headers: &Headers,
    ) -> Result<V, SerdeError> {
        let length = self.u32()? as usize;
        let bytes = self.take(length)?;
        inner.deserialize(topic, headers, Some(bytes))
    }
}
