//! Hand decoding of the two protobuf messages a bundle index holds.
//!
//! Only a handful of fields matter, so a 60-line wire-format reader replaces a protobuf code
//! generator and its build-time dependencies. Unknown fields are skipped, as protobuf requires, so
//! bundles written by newer TensorFlow versions still decode.

/// A wire-format problem: what went wrong and at which byte of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtoError {
    pub at: usize,
    pub what: String,
}

/// One field's payload, by wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn err(&self, what: impl Into<String>) -> ProtoError {
        ProtoError {
            at: self.pos,
            what: what.into(),
        }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut result = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("varint runs past the end of the message"));
            };
            self.pos += 1;
            result |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(result);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                self.err(format!(
                    "field of {n} bytes runs past the end of the message"
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next (field number, value), or `None` at the end of the message.
    fn field(&mut self) -> Option<Result<(u64, Value<'a>), ProtoError>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        Some(self.field_inner())
    }

    fn field_inner(&mut self) -> Result<(u64, Value<'a>), ProtoError> {
        let start = self.pos;
        let tag = self.varint()?;
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().unwrap())),
            2 => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| self.err("length overflows usize"))?;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().unwrap())),
            w => {
                return Err(ProtoError {
                    at: start,
                    what: format!("unsupported wire type {w} (tag {tag})"),
                })
            }
        };
        Ok((tag >> 3, value))
    }
}

fn expect_varint(field: &str, v: Value<'_>, at: usize) -> Result<u64, ProtoError> {
    match v {
        Value::Varint(x) => Ok(x),
        other => Err(ProtoError {
            at,
            what: format!("field {field} should be a varint, found {other:?}"),
        }),
    }
}

fn expect_bytes<'a>(field: &str, v: Value<'a>, at: usize) -> Result<&'a [u8], ProtoError> {
    match v {
        Value::Bytes(b) => Ok(b),
        other => Err(ProtoError {
            at,
            what: format!("field {field} should be length-delimited, found {other:?}"),
        }),
    }
}

/// `tensorflow.BundleHeaderProto`: stored under the empty key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BundleHeader {
    pub num_shards: i32,
    /// 0 = little-endian, 1 = big-endian.
    pub endianness: i32,
    pub producer: i32,
    pub min_consumer: i32,
}

impl BundleHeader {
    pub fn decode(buf: &[u8]) -> Result<Self, ProtoError> {
        let mut h = BundleHeader::default();
        let mut r = Reader::new(buf);
        loop {
            let at = r.pos;
            let Some(f) = r.field() else { break };
            match f? {
                (1, v) => h.num_shards = expect_varint("num_shards", v, at)? as i32,
                (2, v) => h.endianness = expect_varint("endianness", v, at)? as i32,
                (3, v) => {
                    // tensorflow.VersionDef
                    let mut vr = Reader::new(expect_bytes("version", v, at)?);
                    while let Some(vf) = vr.field() {
                        match vf? {
                            (1, Value::Varint(x)) => h.producer = x as i32,
                            (2, Value::Varint(x)) => h.min_consumer = x as i32,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(h)
    }
}

/// `tensorflow.BundleEntryProto`: one per tensor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BundleEntry {
    pub dtype: i32,
    /// `None` for a shape of unknown rank.
    pub shape: Option<Vec<i64>>,
    pub shard_id: i32,
    pub offset: i64,
    pub size: i64,
    /// Masked crc32c of the tensor's bytes.
    pub crc32c: u32,
    /// Number of `TensorSliceProto`s: non-zero for partitioned variables.
    pub slices: usize,
}

impl BundleEntry {
    pub fn decode(buf: &[u8]) -> Result<Self, ProtoError> {
        let mut e = BundleEntry {
            shape: Some(Vec::new()),
            ..Default::default()
        };
        let mut r = Reader::new(buf);
        loop {
            let at = r.pos;
            let Some(f) = r.field() else { break };
            match f? {
                (1, v) => e.dtype = expect_varint("dtype", v, at)? as i32,
                (2, v) => e.shape = decode_shape(expect_bytes("shape", v, at)?)?,
                (3, v) => e.shard_id = expect_varint("shard_id", v, at)? as i32,
                (4, v) => e.offset = expect_varint("offset", v, at)? as i64,
                (5, v) => e.size = expect_varint("size", v, at)? as i64,
                (6, Value::Fixed32(c)) => e.crc32c = c,
                (6, other) => {
                    return Err(ProtoError {
                        at,
                        what: format!("field crc32c should be fixed32, found {other:?}"),
                    })
                }
                (7, _) => e.slices += 1,
                _ => {}
            }
        }
        Ok(e)
    }
}

/// `tensorflow.TensorShapeProto`: `dim` (2) holds `Dim { size = 1; name = 2 }`, `unknown_rank` is 3.
fn decode_shape(buf: &[u8]) -> Result<Option<Vec<i64>>, ProtoError> {
    let mut dims = Vec::new();
    let mut unknown_rank = false;
    let mut r = Reader::new(buf);
    loop {
        let at = r.pos;
        let Some(f) = r.field() else { break };
        match f? {
            (2, v) => {
                let mut size = 0i64;
                let mut dr = Reader::new(expect_bytes("dim", v, at)?);
                while let Some(df) = dr.field() {
                    if let (1, Value::Varint(x)) = df? {
                        size = x as i64;
                    }
                }
                dims.push(size);
            }
            (3, Value::Varint(x)) => unknown_rank = x != 0,
            _ => {}
        }
    }
    Ok(if unknown_rank { None } else { Some(dims) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut x: u64, out: &mut Vec<u8>) {
        while x >= 0x80 {
            out.push((x as u8) | 0x80);
            x >>= 7;
        }
        out.push(x as u8);
    }

    #[test]
    fn decodes_entry_with_unknown_fields_and_negative_dim() {
        let mut dim = vec![0x08];
        varint((-1i64) as u64, &mut dim);
        let mut shape = vec![0x12, dim.len() as u8];
        shape.extend(&dim);
        let mut buf = vec![0x08, 19]; // dtype = DT_HALF
        buf.extend([0x12, shape.len() as u8]);
        buf.extend(&shape);
        buf.extend([0x20]); // offset
        varint(300, &mut buf);
        buf.extend([0x28, 6]); // size
        buf.extend([0x35, 1, 2, 3, 4]); // crc32c
        buf.extend([0x98, 0x06, 7]); // unknown field 99, varint
        buf.extend([0x3a, 0]); // one empty slice
        let e = BundleEntry::decode(&buf).unwrap();
        assert_eq!(e.dtype, 19);
        assert_eq!(e.shape, Some(vec![-1]));
        assert_eq!((e.offset, e.size, e.shard_id), (300, 6, 0));
        assert_eq!(e.crc32c, 0x04030201);
        assert_eq!(e.slices, 1);
    }

    #[test]
    fn truncated_message_reports_position() {
        let err = BundleEntry::decode(&[0x08, 0x80]).unwrap_err();
        assert_eq!(err.at, 2);
        assert!(err.what.contains("varint"), "{err:?}");
        let err = BundleEntry::decode(&[0x12, 5, 1]).unwrap_err();
        assert!(err.what.contains("5 bytes"), "{err:?}");
    }

    #[test]
    fn wrong_wire_type_is_an_error() {
        // crc32c (field 6) as a varint instead of fixed32.
        let err = BundleEntry::decode(&[0x30, 1]).unwrap_err();
        assert!(err.what.contains("crc32c"), "{err:?}");
    }

    #[test]
    fn header() {
        let buf = [0x08, 2, 0x10, 0, 0x1a, 4, 0x08, 1, 0x10, 0];
        let h = BundleHeader::decode(&buf).unwrap();
        assert_eq!(
            h,
            BundleHeader {
                num_shards: 2,
                endianness: 0,
                producer: 1,
                min_consumer: 0
            }
        );
    }
}
