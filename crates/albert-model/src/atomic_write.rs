//! Files written whole or not at all. Each goes to a temporary name beside its target (`.NAME.tmp`,
//! what a start-up clean-up removes after a kill) and is renamed into place once complete; a write that
//! fails (a full disk) removes its temporary file itself. Errors are the OS's own, for the caller to
//! name the path.

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, View};
use tch::{Device, Kind, Tensor};

/// Writes `path` by calling `write` on a temporary path beside it, then renaming.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temporary_path(path);
    let written = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically(path, |tmp| std::fs::write(tmp, bytes))
}

/// Writes named tensors to `path` as safetensors, atomically (each on the CPU, contiguous, in its own
/// dtype). Unlike tch's writer, a failure is an `io::Error` ("No space left on device"), not debug text.
pub fn write_safetensors(tensors: &[(String, Tensor)], path: &Path) -> io::Result<()> {
    let cpu: Vec<(&str, Tensor)> = tensors
        .iter()
        .map(|(name, t)| (name.as_str(), t.to_device(Device::Cpu).contiguous()))
        .collect();
    let views = cpu
        .iter()
        .map(|(name, t)| Ok((*name, TensorView::new(t)?)))
        .collect::<io::Result<Vec<_>>>()?;
    write_atomically(path, |tmp| {
        safetensors::tensor::serialize_to_file(views.iter().map(|(n, v)| (*n, v)), None, tmp)
            .map_err(|e| match e {
                safetensors::SafeTensorError::IoError(e) => e,
                other => io::Error::other(other.to_string()),
            })
    })
}

fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.tmp"))
}

/// A CPU tensor's bytes as safetensors sees them.
struct TensorView<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: &'a [u8],
}

impl<'a> TensorView<'a> {
    fn new(t: &'a Tensor) -> io::Result<Self> {
        let kind = t.kind();
        let dtype = match kind {
            Kind::Float => Dtype::F32,
            Kind::Double => Dtype::F64,
            Kind::Half => Dtype::F16,
            Kind::BFloat16 => Dtype::BF16,
            Kind::Int64 => Dtype::I64,
            Kind::Int => Dtype::I32,
            Kind::Int16 => Dtype::I16,
            Kind::Int8 => Dtype::I8,
            Kind::Uint8 => Dtype::U8,
            Kind::Bool => Dtype::BOOL,
            other => {
                return Err(io::Error::other(format!(
                    "tensors of kind {other:?} cannot be saved"
                )))
            }
        };
        let len = t.numel() * kind.elt_size_in_bytes();
        // SAFETY: `t` is a contiguous CPU tensor of `numel` elements of `kind`; the slice lives as long
        // as the borrow of `t`.
        let bytes = match len {
            0 => &[][..],
            _ => unsafe { std::slice::from_raw_parts(t.data_ptr() as *const u8, len) },
        };
        Ok(Self {
            dtype,
            shape: t.size().iter().map(|&d| d as usize).collect(),
            bytes,
        })
    }
}

impl View for &TensorView<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_round_trip_through_tchs_reader_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let tensors = vec![
            (
                "a".to_string(),
                Tensor::randn([3, 4], (Kind::Float, Device::Cpu)),
            ),
            ("b.step".to_string(), Tensor::from_slice(&[7i64])),
            // A non-contiguous view is written as its values.
            (
                "c".to_string(),
                Tensor::arange(6, (Kind::Float, Device::Cpu))
                    .reshape([2, 3])
                    .tr(),
            ),
        ];
        write_safetensors(&tensors, &path).unwrap();
        let read: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(&path)
            .unwrap()
            .into_iter()
            .collect();
        for (name, t) in &tensors {
            assert!(read[name].equal(t), "{name}");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["w.safetensors"]);
    }

    #[test]
    fn a_failed_write_removes_its_temporary_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "old").unwrap();
        let err = write_atomically(&path, |tmp| {
            std::fs::write(tmp, "half")?;
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "No space left on device (os error 28)");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert!(!temporary_path(&path).exists());
    }
}
