//! TensorBoard scalar events (`events.out.tfevents.*`), which SageMaker uploads from
//! `/opt/ml/output/tensorboard` and TensorBoard reads directly.
//!
//! The format is small enough to write by hand: TFRecord framing (length, masked CRC32C of the length,
//! payload, masked CRC32C of the payload) around `tensorflow.Event` protobuf messages holding one
//! `Summary.Value { tag, simple_value }` each.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::TrainError;

/// Appends scalar summaries to one event file.
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir` if needed and a new event file in it.
    pub fn create(dir: &Path) -> Result<Self, TrainError> {
        fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let now = wall_time();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let path = dir.join(format!("events.out.tfevents.{}.{host}", now as u64));
        let file = File::create(&path).map_err(|e| TrainError::io(&path, e))?;
        let mut w = Self {
            path,
            out: BufWriter::new(file),
        };
        let mut event = Vec::new();
        put_double(&mut event, 1, now);
        put_bytes(&mut event, 3, b"brain.Event:2");
        w.record(&event)?;
        Ok(w)
    }

    #[cfg(test)]
    fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one scalar at `step` and flushes, so a job killed later still has it.
    pub fn scalar(&mut self, tag: &str, value: f64, step: i64) -> Result<(), TrainError> {
        let mut value_msg = Vec::new();
        put_bytes(&mut value_msg, 1, tag.as_bytes());
        put_float(&mut value_msg, 2, value as f32);
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, &value_msg);
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time());
        put_varint_field(&mut event, 2, step as u64);
        put_bytes(&mut event, 5, &summary);
        self.record(&event)?;
        self.out.flush().map_err(|e| TrainError::io(&self.path, e))
    }

    fn record(&mut self, payload: &[u8]) -> Result<(), TrainError> {
        let len = (payload.len() as u64).to_le_bytes();
        let mut buf = Vec::with_capacity(payload.len() + 16);
        buf.extend_from_slice(&len);
        buf.extend_from_slice(&masked_crc(&len).to_le_bytes());
        buf.extend_from_slice(payload);
        buf.extend_from_slice(&masked_crc(payload).to_le_bytes());
        self.out
            .write_all(&buf)
            .map_err(|e| TrainError::io(&self.path, e))
    }
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// TFRecord's CRC: CRC32C rotated right by 15 bits plus a constant.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(buf, u64::from(field << 3));
    put_varint(buf, v);
}

fn put_double(buf: &mut Vec<u8>, field: u32, v: f64) {
    put_varint(buf, u64::from(field << 3 | 1));
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_float(buf: &mut Vec<u8>, field: u32, v: f32) {
    put_varint(buf, u64::from(field << 3 | 5));
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(buf: &mut Vec<u8>, field: u32, v: &[u8]) {
    put_varint(buf, u64::from(field << 3 | 2));
    put_varint(buf, v.len() as u64);
    buf.extend_from_slice(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads TFRecord frames back, checking both CRCs, as TensorBoard's reader does.
    fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len_bytes = &bytes[at..at + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(len_crc, masked_crc(len_bytes));
            let payload = &bytes[at + 12..at + 12 + len];
            let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
            assert_eq!(crc, masked_crc(payload));
            out.push(payload.to_vec());
            at += 16 + len;
        }
        out
    }

    #[test]
    fn known_crc() {
        // CRC32C("123456789") = 0xE3069283 (RFC 3720 check value), masked per TFRecord.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(
            masked_crc(b"123456789"),
            0xE306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn writes_framed_scalar_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalar("eval/entity_f1", 0.5, 7).unwrap();
        let bytes = fs::read(w.path()).unwrap();
        let frames = frames(&bytes);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].windows(13).any(|s| s == b"brain.Event:2"));
        let ev = &frames[1];
        // step = 7 as field 2 varint, tag and value 0.5f32 inside the nested summary.
        assert!(ev.windows(2).any(|s| s == [0x10, 7]));
        assert!(ev.windows(14).any(|s| s == b"eval/entity_f1"));
        let mut v = vec![0x15];
        v.extend_from_slice(&0.5f32.to_le_bytes());
        assert!(ev.windows(5).any(|s| s == v.as_slice()));
    }
}
