//! Reads the LevelDB-format table TensorFlow uses for `.index` files.
//!
//! Layout: data blocks, a metaindex block (empty in bundles), an index block, then a 48-byte footer
//! (two block handles, padding, magic). Each block is followed by a 5-byte trailer: compression
//! type and masked crc32c of contents + type. Index files are small (kilobytes to a few megabytes),
//! so the whole table is decoded eagerly into a sorted list of key/value pairs.

use crate::error::CheckpointError;

const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
const FOOTER_LEN: usize = 48;
const TRAILER_LEN: usize = 5;

/// The mask LevelDB/TensorFlow apply to stored crcs, so that a crc of data containing crcs is not trivially weak.
const MASK_DELTA: u32 = 0xa282_ead8;

/// Inverse of TensorFlow's `crc32c::Mask`.
pub(crate) fn unmask_crc(masked: u32) -> u32 {
    let rot = masked.wrapping_sub(MASK_DELTA);
    rot.rotate_left(15)
}

#[cfg(test)]
pub(crate) fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// A table's (key, value) pair.
pub(crate) type KeyValue = (Vec<u8>, Vec<u8>);

/// A block's (key, value, byte offset of the entry in the file).
type BlockEntry = (Vec<u8>, Vec<u8>, usize);

/// Where a block sits in the file (its contents, without the trailer).
#[derive(Debug, Clone, Copy)]
struct BlockHandle {
    offset: u64,
    size: u64,
}

/// Decodes `file`'s bytes into its (key, value) pairs, in file order (which is key order).
/// `file` only names the file in errors.
pub(crate) fn read_table(data: &[u8], file: &str) -> Result<Vec<KeyValue>, CheckpointError> {
    let corrupt = |offset: usize, what: String| CheckpointError::CorruptIndex {
        file: file.to_string(),
        offset: offset as u64,
        what,
    };
    if data.len() < FOOTER_LEN {
        return Err(corrupt(
            0,
            format!(
                "file is {} bytes, shorter than the {FOOTER_LEN}-byte table footer (truncated?)",
                data.len()
            ),
        ));
    }
    let footer_at = data.len() - FOOTER_LEN;
    let footer = &data[footer_at..];
    let magic = u64::from_le_bytes(footer[40..48].try_into().unwrap());
    if magic != MAGIC {
        return Err(corrupt(
            footer_at + 40,
            format!(
                "footer magic is {magic:#018x}, expected {MAGIC:#018x} (truncated, or not a TensorFlow .index file)"
            ),
        ));
    }
    let mut pos = 0;
    let (_metaindex, index) = (|| {
        let m = decode_handle(footer, &mut pos)?;
        let i = decode_handle(footer, &mut pos)?;
        Some((m, i))
    })()
    .ok_or_else(|| corrupt(footer_at + pos, "footer block handles do not decode".into()))?;

    let index_block = read_block(data, index, file)?;
    let mut out = Vec::new();
    for (handle_key, handle_bytes, at) in parse_block(&index_block, index.offset, file)? {
        let mut p = 0;
        let handle = decode_handle(&handle_bytes, &mut p).ok_or_else(|| {
            corrupt(
                at,
                format!(
                    "index entry for key {:?} holds no block handle",
                    String::from_utf8_lossy(&handle_key)
                ),
            )
        })?;
        let block = read_block(data, handle, file)?;
        for (key, value, at) in parse_block(&block, handle.offset, file)? {
            if let Some((prev, _)) = out.last() {
                if key <= *prev {
                    return Err(corrupt(
                        at,
                        format!(
                            "keys out of order: {:?} after {:?}",
                            String::from_utf8_lossy(&key),
                            String::from_utf8_lossy(prev)
                        ),
                    ));
                }
            }
            out.push((key, value));
        }
    }
    Ok(out)
}

fn decode_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut result = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        result |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(result);
        }
    }
    None
}

fn decode_handle(buf: &[u8], pos: &mut usize) -> Option<BlockHandle> {
    Some(BlockHandle {
        offset: decode_varint(buf, pos)?,
        size: decode_varint(buf, pos)?,
    })
}

/// Checks the trailer's crc and decompresses; returns the block contents.
fn read_block(data: &[u8], h: BlockHandle, file: &str) -> Result<Vec<u8>, CheckpointError> {
    let start = usize::try_from(h.offset).ok();
    let end = start
        .zip(usize::try_from(h.size).ok())
        .and_then(|(s, n)| s.checked_add(n)?.checked_add(TRAILER_LEN));
    let (Some(start), Some(end)) = (start, end) else {
        return Err(CheckpointError::CorruptIndex {
            file: file.to_string(),
            offset: h.offset,
            what: format!("block handle of size {} overflows", h.size),
        });
    };
    if end > data.len() - FOOTER_LEN {
        return Err(CheckpointError::CorruptIndex {
            file: file.to_string(),
            offset: h.offset,
            what: format!(
                "block of {} bytes (+{TRAILER_LEN}-byte trailer) runs past the data, which ends at byte {}",
                h.size,
                data.len() - FOOTER_LEN
            ),
        });
    }
    let contents = &data[start..end - TRAILER_LEN];
    let kind = data[end - TRAILER_LEN];
    let stored = u32::from_le_bytes(data[end - 4..end].try_into().unwrap());
    let expected = unmask_crc(stored);
    let actual = crc32c::crc32c_append(crc32c::crc32c(contents), &[kind]);
    if expected != actual {
        return Err(CheckpointError::BlockChecksum {
            file: file.to_string(),
            offset: h.offset,
            expected,
            actual,
        });
    }
    match kind {
        0 => Ok(contents.to_vec()),
        1 => snap::raw::Decoder::new()
            .decompress_vec(contents)
            .map_err(|e| CheckpointError::CorruptIndex {
                file: file.to_string(),
                offset: h.offset,
                what: format!("snappy block does not decompress: {e}"),
            }),
        kind => Err(CheckpointError::UnsupportedCompression {
            file: file.to_string(),
            offset: h.offset,
            kind,
        }),
    }
}

/// Splits a block into (key, value, byte offset of the entry) with prefix-compressed keys expanded.
/// The offset is `block_offset` + position in the (decompressed) contents: exact for uncompressed
/// blocks, which is all TensorFlow writes.
fn parse_block(
    block: &[u8],
    block_offset: u64,
    file: &str,
) -> Result<Vec<BlockEntry>, CheckpointError> {
    let base = block_offset as usize;
    let corrupt = |at: usize, what: String| CheckpointError::CorruptIndex {
        file: file.to_string(),
        offset: (base + at) as u64,
        what,
    };
    if block.len() < 4 {
        return Err(corrupt(
            0,
            format!("block of {} bytes has no restart count", block.len()),
        ));
    }
    let num_restarts = u32::from_le_bytes(block[block.len() - 4..].try_into().unwrap()) as usize;
    let entries_end = num_restarts
        .checked_mul(4)
        .and_then(|r| block.len().checked_sub(4 + r))
        .ok_or_else(|| {
            corrupt(
                block.len() - 4,
                format!(
                    "{num_restarts} restart points do not fit in a {}-byte block",
                    block.len()
                ),
            )
        })?;
    let entries = &block[..entries_end];
    let mut out = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos < entries.len() {
        let at = pos;
        let mut next = || decode_varint(entries, &mut pos).map(|v| v as usize);
        let (Some(shared), Some(non_shared), Some(value_len)) = (next(), next(), next()) else {
            return Err(corrupt(at, "entry header does not decode".into()));
        };
        if shared > key.len() {
            return Err(corrupt(
                at,
                format!(
                    "entry shares {shared} key bytes but the previous key has {}",
                    key.len()
                ),
            ));
        }
        let key_end = pos.checked_add(non_shared);
        let value_end = key_end.and_then(|k| k.checked_add(value_len));
        let (Some(key_end), Some(value_end)) = (key_end, value_end) else {
            return Err(corrupt(at, "entry lengths overflow".into()));
        };
        if value_end > entries.len() {
            return Err(corrupt(
                at,
                format!(
                    "entry of {non_shared}+{value_len} bytes runs past the block's entries (which end at {})",
                    base + entries.len()
                ),
            ));
        }
        key.truncate(shared);
        key.extend_from_slice(&entries[pos..key_end]);
        out.push((key.clone(), entries[key_end..value_end].to_vec(), base + at));
        pos = value_end;
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn put_varint(mut x: u64, out: &mut Vec<u8>) {
        while x >= 0x80 {
            out.push((x as u8) | 0x80);
            x >>= 7;
        }
        out.push(x as u8);
    }

    fn block(entries: &[(&[u8], &[u8])], restart_interval: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut restarts = Vec::new();
        let mut prev: &[u8] = &[];
        for (i, (k, v)) in entries.iter().enumerate() {
            let shared = if i % restart_interval == 0 {
                restarts.push(out.len() as u32);
                0
            } else {
                prev.iter()
                    .zip(k.iter())
                    .take_while(|(a, b)| a == b)
                    .count()
            };
            put_varint(shared as u64, &mut out);
            put_varint((k.len() - shared) as u64, &mut out);
            put_varint(v.len() as u64, &mut out);
            out.extend_from_slice(&k[shared..]);
            out.extend_from_slice(v);
            prev = k;
        }
        if restarts.is_empty() {
            restarts.push(0);
        }
        for r in &restarts {
            out.extend(r.to_le_bytes());
        }
        out.extend((restarts.len() as u32).to_le_bytes());
        out
    }

    fn append_block(file: &mut Vec<u8>, contents: &[u8], snappy: bool) -> (u64, u64) {
        let (stored, kind) = if snappy {
            (
                snap::raw::Encoder::new().compress_vec(contents).unwrap(),
                1u8,
            )
        } else {
            (contents.to_vec(), 0u8)
        };
        let offset = file.len() as u64;
        file.extend(&stored);
        file.push(kind);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&stored), &[kind]);
        file.extend(mask_crc(crc).to_le_bytes());
        (offset, stored.len() as u64)
    }

    /// A minimal table writer: one data block per chunk of `per_block` entries.
    pub(crate) fn build_table(
        entries: &[(Vec<u8>, Vec<u8>)],
        per_block: usize,
        snappy: bool,
    ) -> Vec<u8> {
        let mut file = Vec::new();
        let mut index_entries = Vec::new();
        for chunk in entries.chunks(per_block) {
            let refs: Vec<(&[u8], &[u8])> = chunk.iter().map(|(k, v)| (&k[..], &v[..])).collect();
            let (off, size) = append_block(&mut file, &block(&refs, 3), snappy);
            let mut handle = Vec::new();
            put_varint(off, &mut handle);
            put_varint(size, &mut handle);
            index_entries.push((chunk.last().unwrap().0.clone(), handle));
        }
        let (meta_off, meta_size) = append_block(&mut file, &block(&[], 1), snappy);
        let refs: Vec<(&[u8], &[u8])> = index_entries
            .iter()
            .map(|(k, v)| (&k[..], &v[..]))
            .collect();
        let (idx_off, idx_size) = append_block(&mut file, &block(&refs, 1), snappy);
        let mut footer = Vec::new();
        for x in [meta_off, meta_size, idx_off, idx_size] {
            put_varint(x, &mut footer);
        }
        footer.resize(40, 0);
        footer.extend(MAGIC.to_le_bytes());
        file.extend(footer);
        file
    }

    fn sample_entries(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                (
                    format!("bert/encoder/layer_{i:03}/kernel").into_bytes(),
                    vec![i as u8; i % 7],
                )
            })
            .collect()
    }

    #[test]
    fn mask_round_trips() {
        for c in [0, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask_crc(mask_crc(c)), c);
        }
    }

    #[test]
    fn reads_multi_block_uncompressed_and_snappy_tables() {
        let entries = sample_entries(50);
        for snappy in [false, true] {
            let table = build_table(&entries, 8, snappy);
            let got = read_table(&table, "t.index").unwrap();
            assert_eq!(got, entries, "snappy = {snappy}");
        }
    }

    #[test]
    fn snappy_block_with_bad_crc_is_rejected_before_decompressing() {
        let mut table = build_table(&sample_entries(5), 8, true);
        table[3] ^= 0x40;
        let err = read_table(&table, "t.index").unwrap_err();
        assert!(
            matches!(err, CheckpointError::BlockChecksum { offset: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn unknown_compression_type_is_named() {
        let mut table = build_table(&sample_entries(3), 8, false);
        // Rewrite the first block's trailer with compression type 4 and a matching crc.
        let mut p = 0;
        let footer = &table[table.len() - 48..];
        decode_handle(footer, &mut p).unwrap();
        let index = decode_handle(footer, &mut p).unwrap();
        let idx_block = read_block(&table, index, "t").unwrap();
        let (_, h, _) = &parse_block(&idx_block, index.offset, "t").unwrap()[0];
        let first = decode_handle(h, &mut 0).unwrap();
        let end = (first.offset + first.size) as usize;
        table[end] = 4;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&table[..end]), &[4]);
        table[end + 1..end + 5].copy_from_slice(&mask_crc(crc).to_le_bytes());
        let err = read_table(&table, "t.index").unwrap_err();
        assert!(
            matches!(err, CheckpointError::UnsupportedCompression { kind: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn short_file_and_bad_magic() {
        let err = read_table(&[0; 20], "x.index").unwrap_err();
        assert!(
            err.to_string().contains("shorter than the 48-byte"),
            "{err}"
        );
        assert!(err.to_string().starts_with("x.index:"), "{err}");
        let err = read_table(&[0; 100], "x.index").unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
    }
}
