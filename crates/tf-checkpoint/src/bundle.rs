//! Turns a decoded `.index` table into validated per-tensor entries.
//!
//! Everything that can be checked without touching the data shards is checked here, at open time,
//! so that a bad checkpoint fails before a training job has spent minutes building a model.

use std::collections::BTreeMap;

use crate::error::CheckpointError;
use crate::proto::{BundleEntry, BundleHeader};
use crate::sstable::read_table;
use crate::{DType, Variable};

/// The bundle format version this reader understands (TensorFlow's `kTensorBundleVersion`).
const BUNDLE_VERSION: i32 = 1;

/// Where one tensor's bytes are and how to check them.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub var: Variable,
    pub shard_id: u32,
    pub offset: u64,
    pub size: u64,
    /// Unmasked crc32c of the tensor's bytes.
    pub crc32c: u32,
    /// Number of slices; non-zero for partitioned variables, whose bytes live elsewhere.
    pub slices: usize,
}

#[derive(Debug)]
pub(crate) struct Bundle {
    pub num_shards: u32,
    pub entries: BTreeMap<String, Entry>,
}

/// Parses the `.index` bytes. `file` names the index in errors.
pub(crate) fn parse_index(data: &[u8], file: &str) -> Result<Bundle, CheckpointError> {
    let table = read_table(data, file)?;
    let mut header = None;
    let mut entries = BTreeMap::new();
    for (key, value) in table {
        if key.is_empty() {
            let h = BundleHeader::decode(&value).map_err(|e| CheckpointError::CorruptIndex {
                file: file.to_string(),
                offset: 0,
                what: format!("bundle header: {} (at byte {} of the header)", e.what, e.at),
            })?;
            header = Some(h);
            continue;
        }
        // Keys of individual slices of partitioned variables start with a 0 byte (OrderedCode);
        // they are reached through their variable's entry, not listed on their own.
        if key[0] == 0 {
            continue;
        }
        let name = String::from_utf8(key).map_err(|e| CheckpointError::CorruptIndex {
            file: file.to_string(),
            offset: 0,
            what: format!(
                "tensor name is not UTF-8: {:?}",
                String::from_utf8_lossy(e.as_bytes())
            ),
        })?;
        let entry = to_entry(&name, &value, file)?;
        entries.insert(name, entry);
    }
    let header = header.ok_or_else(|| CheckpointError::CorruptIndex {
        file: file.to_string(),
        offset: 0,
        what: "no bundle header (the empty key); not a tensor bundle (V1 checkpoints are not supported)".into(),
    })?;
    let unsupported = |what: String| CheckpointError::UnsupportedBundle {
        file: file.to_string(),
        what,
    };
    if header.endianness != 0 {
        return Err(unsupported(format!(
            "data is big-endian (endianness = {})",
            header.endianness
        )));
    }
    if header.min_consumer > BUNDLE_VERSION {
        return Err(unsupported(format!(
            "bundle version needs a reader of at least version {} (producer {}), this one is version {BUNDLE_VERSION}",
            header.min_consumer, header.producer
        )));
    }
    let num_shards = u32::try_from(header.num_shards)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| CheckpointError::CorruptIndex {
            file: file.to_string(),
            offset: 0,
            what: format!("bundle header says num_shards = {}", header.num_shards),
        })?;
    for (name, e) in &entries {
        if e.slices == 0 && e.shard_id >= num_shards {
            return Err(CheckpointError::BadEntry {
                file: file.to_string(),
                tensor: name.clone(),
                what: format!(
                    "shard_id {} but the bundle has {num_shards} shard(s)",
                    e.shard_id
                ),
            });
        }
    }
    Ok(Bundle {
        num_shards,
        entries,
    })
}

fn to_entry(name: &str, value: &[u8], file: &str) -> Result<Entry, CheckpointError> {
    let bad = |what: String| CheckpointError::BadEntry {
        file: file.to_string(),
        tensor: name.to_string(),
        what,
    };
    let p = BundleEntry::decode(value)
        .map_err(|e| bad(format!("{} (at byte {} of the entry)", e.what, e.at)))?;
    let dtype = DType::from_proto(p.dtype);
    let dims = p
        .shape
        .ok_or_else(|| bad("shape has unknown rank".into()))?;
    let shape = dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| bad(format!("shape {dims:?} has a negative dimension")))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let shard_id =
        u32::try_from(p.shard_id).map_err(|_| bad(format!("shard_id {}", p.shard_id)))?;
    let offset = u64::try_from(p.offset).map_err(|_| bad(format!("offset {}", p.offset)))?;
    let size = u64::try_from(p.size).map_err(|_| bad(format!("size {}", p.size)))?;
    let var = Variable {
        name: name.to_string(),
        dtype,
        shape,
    };
    if p.slices == 0 {
        if let Some(elem) = dtype.element_size() {
            let want = var
                .num_elements()
                .and_then(|n| n.checked_mul(elem))
                .ok_or_else(|| bad(format!("shape {:?} overflows", var.shape)))?;
            if want as u64 != size {
                return Err(bad(format!(
                    "stored size is {size} bytes but {dtype} with shape {:?} needs {want}",
                    var.shape
                )));
            }
        }
    }
    Ok(Entry {
        var,
        shard_id,
        offset,
        size,
        crc32c: crate::sstable::unmask_crc(p.crc32c),
        slices: p.slices,
    })
}
