//! Damaged and ambiguous checkpoints: each must fail with an error that names what is wrong.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tf_checkpoint::{Checkpoint, CheckpointError};

const WORD_EMB: &str = "bert/embeddings/word_embeddings";
const SHARD0: &str = "albert_model.ckpt.data-00000-of-00002";
const SHARD1: &str = "albert_model.ckpt.data-00001-of-00002";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A scratch copy of the two-shard fixture directory.
fn copy_fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("albert_tiny_zh");
    fs::create_dir(&dir).unwrap();
    for e in fs::read_dir(fixtures().join("albert_tiny_zh")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    (tmp, dir)
}

/// Byte offset of the word-embedding table inside `haystack`, found by its first 8 values.
fn find_word_embeddings(haystack: &[u8]) -> usize {
    let ckpt = Checkpoint::open(&fixtures().join("albert_tiny_zh")).unwrap();
    let head: Vec<u8> = ckpt.read_f32(WORD_EMB).unwrap()[..8]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let hits: Vec<usize> = haystack
        .windows(head.len())
        .enumerate()
        .filter(|(_, w)| *w == head)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "word embeddings found {} times", hits.len());
    hits[0]
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn corrupted_data_byte_names_the_tensor() {
    let (_tmp, dir) = copy_fixture();
    let shard = dir.join(SHARD0);
    let at = find_word_embeddings(&fs::read(&shard).unwrap());
    flip_byte(&shard, at + 21);
    let ckpt = Checkpoint::open(&dir).unwrap();
    let err = ckpt.read_f32(WORD_EMB).unwrap_err();
    match &err {
        CheckpointError::TensorChecksum {
            file,
            tensor,
            offset,
            expected,
            actual,
        } => {
            assert_eq!(tensor, WORD_EMB);
            assert!(file.ends_with(SHARD0), "{file}");
            assert_eq!(*offset, at as u64);
            assert_ne!(expected, actual);
        }
        other => panic!("expected a checksum error, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(WORD_EMB) && msg.contains(SHARD0) && msg.contains("crc32c"),
        "{msg}"
    );
    // Only that tensor is affected: everything the intact checkpoint reads as f32 still reads.
    let intact = Checkpoint::open(&fixtures().join("albert_tiny_zh")).unwrap();
    for v in ckpt.variables().filter(|v| v.name != WORD_EMB) {
        if let Ok(want) = intact.read_f32(&v.name) {
            let got = ckpt.read_f32(&v.name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got.len(), want.len());
        }
    }
}

#[test]
fn corrupted_stored_zip_entry_names_the_tensor() {
    // Seeking into a stored entry bypasses the zip's own crc32; the tensor crc32c must still catch it.
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("albert_tiny_zh.zip");
    fs::copy(fixtures().join("albert_tiny_zh.zip"), &zip).unwrap();
    let at = find_word_embeddings(&fs::read(&zip).unwrap());
    flip_byte(&zip, at + 3);
    let ckpt = Checkpoint::open(&zip).unwrap();
    let err = ckpt.read_f32(WORD_EMB).unwrap_err();
    assert!(
        matches!(err, CheckpointError::TensorChecksum { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(WORD_EMB), "{msg}");
    assert!(
        msg.contains(&format!("albert_tiny_zh.zip!albert_tiny_zh/{SHARD0}")),
        "{msg}"
    );
}

#[test]
fn truncated_index_is_a_clear_error() {
    let (_tmp, dir) = copy_fixture();
    let index = dir.join("albert_model.ckpt.index");
    let full = fs::read(&index).unwrap();
    for (len, needle) in [
        (full.len() - 7, "magic"),
        (30, "shorter than the 48-byte"),
        (0, "shorter"),
    ] {
        fs::write(&index, &full[..len]).unwrap();
        let err = Checkpoint::open(&dir).unwrap_err();
        assert!(matches!(err, CheckpointError::CorruptIndex { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("albert_model.ckpt.index"), "{msg}");
        assert!(msg.contains(needle), "len {len}: {msg}");
    }
}

#[test]
fn corrupted_index_block_fails_its_checksum() {
    let (_tmp, dir) = copy_fixture();
    let index = dir.join("albert_model.ckpt.index");
    // The first data block starts at byte 0; byte 40 is inside some entry's key or value.
    flip_byte(&index, 40);
    let err = Checkpoint::open(&dir).unwrap_err();
    match &err {
        CheckpointError::BlockChecksum { file, offset, .. } => {
            assert!(file.ends_with("albert_model.ckpt.index"), "{file}");
            assert_eq!(*offset, 0);
        }
        other => panic!("expected a block checksum error, got {other}"),
    }
}

#[test]
fn missing_shard_names_the_file() {
    let (_tmp, dir) = copy_fixture();
    fs::remove_file(dir.join(SHARD1)).unwrap();
    let err = Checkpoint::open(&dir).unwrap_err();
    assert!(matches!(err, CheckpointError::MissingShard { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.join(SHARD1).display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("2 shard"), "{msg}");
}

#[test]
fn truncated_shard_names_tensor_and_sizes() {
    let (_tmp, dir) = copy_fixture();
    let shard = dir.join(SHARD0);
    let at = find_word_embeddings(&fs::read(&shard).unwrap());
    let f = fs::OpenOptions::new().write(true).open(&shard).unwrap();
    f.set_len(at as u64 + 100).unwrap();
    let ckpt = Checkpoint::open(&dir).unwrap();
    let err = ckpt.read_f32(WORD_EMB).unwrap_err();
    match &err {
        CheckpointError::TruncatedData {
            tensor,
            offset,
            end,
            len,
            ..
        } => {
            assert_eq!(tensor, WORD_EMB);
            assert_eq!(*offset, at as u64);
            assert_eq!(*end, at as u64 + 128 * 16 * 4);
            assert_eq!(*len, at as u64 + 100);
        }
        other => panic!("expected a truncation error, got {other}"),
    }
}

#[test]
fn several_indexes_in_a_directory_are_listed() {
    let (_tmp, dir) = copy_fixture();
    fs::copy(
        dir.join("albert_model.ckpt.index"),
        dir.join("model.ckpt-100.index"),
    )
    .unwrap();
    let err = Checkpoint::open(&dir).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, CheckpointError::SeveralIndexes { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("albert_model.ckpt.index") && msg.contains("model.ckpt-100.index"),
        "{msg}"
    );
    // Naming one of them resolves the ambiguity.
    Checkpoint::open(&dir.join("albert_model.ckpt.index")).unwrap();
}

#[test]
fn several_indexes_in_a_zip_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("two.zip");
    let mut w = zip::ZipWriter::new(fs::File::create(&path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for name in ["a/model.ckpt.index", "b/model.ckpt.index"] {
        w.start_file(name, opts).unwrap();
        w.write_all(b"x").unwrap();
    }
    w.finish().unwrap();
    let err = Checkpoint::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, CheckpointError::SeveralIndexes { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("a/model.ckpt.index") && msg.contains("b/model.ckpt.index"),
        "{msg}"
    );
}

#[test]
fn zip_without_extension_is_recognised() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("download");
    fs::copy(fixtures().join("albert_tiny_zh.zip"), &path).unwrap();
    let ckpt = Checkpoint::open(&path).unwrap();
    assert_eq!(ckpt.read_i64("global_step").unwrap(), vec![36000]);
}

#[test]
fn nothing_there() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Checkpoint::open(tmp.path()).unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("no *.index"), "{err}");
    let missing = tmp.path().join("albert_model.ckpt");
    let err = Checkpoint::open(&missing).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    let other = tmp.path().join("notes.txt");
    fs::write(&other, "hello").unwrap();
    let err = Checkpoint::open(&other).unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err}");
}
