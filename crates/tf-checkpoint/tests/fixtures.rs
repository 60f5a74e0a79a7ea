//! Reads checkpoints written by TensorFlow 2.21 (see fixtures/README.md) and checks every variable
//! against what TensorFlow itself read back, in every way a checkpoint can be passed to `open`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tf_checkpoint::{Checkpoint, CheckpointError, DType};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn tiny_dir() -> PathBuf {
    fixtures().join("albert_tiny_zh")
}

struct Expected {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    floats: Option<Vec<f32>>,
    ints: Option<Vec<i64>>,
    /// Number of slices of a partitioned variable, which the reader refuses.
    sliced: Option<usize>,
}

fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixtures().join("albert_tiny_zh.expected.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let dtype = match v["dtype"].as_str().unwrap() {
                "float32" => DType::Float,
                "float16" => DType::Half,
                "bfloat16" => DType::BFloat16,
                "float64" => DType::Double,
                "int32" => DType::Int32,
                "int64" => DType::Int64,
                "string" => DType::String,
                other => panic!("fixture dtype {other} not handled by the test"),
            };
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let values = v.get("values").and_then(Value::as_array);
            let (mut floats, mut ints) = (None, None);
            match (dtype, values) {
                (DType::Int32 | DType::Int64, Some(vals)) => {
                    ints = Some(vals.iter().map(|x| x.as_i64().unwrap()).collect());
                }
                (_, Some(vals)) => {
                    // Either integers k with value k / scale (exact), or the exact f32 value as f64.
                    let scale = v.get("scale").and_then(Value::as_f64);
                    floats = Some(
                        vals.iter()
                            .map(|x| match scale {
                                Some(s) => (x.as_f64().unwrap() / s) as f32,
                                None => x.as_f64().unwrap() as f32,
                            })
                            .collect(),
                    );
                }
                (_, None) => {}
            }
            Expected {
                name: v["name"].as_str().unwrap().to_string(),
                dtype,
                shape,
                floats,
                ints,
                sliced: v.get("sliced").and_then(Value::as_u64).map(|n| n as usize),
            }
        })
        .collect()
}

fn assert_bits_eq(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{name}[{i}]: got {g:e}, want {w:e}"
        );
    }
}

/// Every variable's name, dtype, shape and values match what TensorFlow read back.
fn check_against_expected(ckpt: &Checkpoint) {
    let want = expected();
    let names: Vec<&str> = ckpt.variables().map(|v| v.name.as_str()).collect();
    let want_names: Vec<&str> = want.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, want_names);
    for (var, e) in ckpt.variables().zip(&want) {
        assert_eq!(var.dtype, e.dtype, "{}", e.name);
        assert_eq!(var.shape, e.shape, "{}", e.name);
        assert_eq!(ckpt.variable(&e.name), Some(var));
        if let Some(n) = e.sliced {
            let err = ckpt.read_f32(&e.name).unwrap_err();
            match &err {
                CheckpointError::Sliced { tensor, slices, .. } => {
                    assert_eq!((tensor, *slices), (&e.name, n));
                }
                other => panic!("{}: expected a sliced-variable error, got {other}", e.name),
            }
            continue;
        }
        if let Some(f) = &e.floats {
            assert_eq!(f.len(), var.num_elements().unwrap(), "{}", e.name);
            assert_bits_eq(&e.name, &ckpt.read_f32(&e.name).unwrap(), f);
            let err = ckpt.read_i64(&e.name).unwrap_err();
            assert!(matches!(err, CheckpointError::WrongDType { .. }), "{err}");
        }
        if let Some(i) = &e.ints {
            assert_eq!(&ckpt.read_i64(&e.name).unwrap(), i, "{}", e.name);
            let err = ckpt.read_f32(&e.name).unwrap_err();
            assert!(matches!(err, CheckpointError::WrongDType { .. }), "{err}");
        }
        if e.floats.is_none() && e.ints.is_none() {
            for err in [
                ckpt.read_f32(&e.name).unwrap_err(),
                ckpt.read_i64(&e.name).map(|_| ()).unwrap_err(),
            ] {
                let msg = err.to_string();
                assert!(msg.contains("DT_STRING (7)"), "{msg}");
                assert!(msg.contains(&e.name), "{msg}");
            }
        }
    }
}

#[test]
fn fixture_covers_what_it_claims() {
    let want = expected();
    let has = |d: DType| want.iter().any(|e| e.dtype == d);
    for d in [
        DType::Float,
        DType::Half,
        DType::BFloat16,
        DType::Double,
        DType::Int32,
        DType::Int64,
        DType::String,
    ] {
        assert!(has(d), "fixture lacks {d}");
    }
    assert!(want
        .iter()
        .any(|e| e.shape.is_empty() && e.dtype == DType::Float));
    assert!(want.iter().any(|e| e.shape.contains(&0)));
    assert!(
        want.iter().any(|e| e.sliced.is_some()),
        "fixture lacks a partitioned variable"
    );
    for name in [
        "bert/embeddings/word_embeddings",
        "bert/embeddings/word_embeddings_2",
        "bert/encoder/layer_shared/attention/self/query/kernel",
        "bert/encoder/layer_shared/attention/self/query/kernel/adam_m",
        "global_step",
    ] {
        assert!(want.iter().any(|e| e.name == name), "fixture lacks {name}");
    }
}

#[test]
fn directory_matches_tensorflow() {
    let ckpt = Checkpoint::open(&tiny_dir()).unwrap();
    assert_eq!(ckpt.num_shards(), 2);
    assert_eq!(ckpt.len(), expected().len());
    check_against_expected(&ckpt);
    assert_eq!(ckpt.read_i64("global_step").unwrap(), vec![36000]);
    assert_eq!(
        ckpt.read_f32("bert/embeddings/scale_scalar").unwrap(),
        vec![0.125]
    );
    assert!(ckpt.read_f32("bert/encoder/empty_rows").unwrap().is_empty());
}

#[test]
fn every_spelling_of_the_path_opens_the_same_checkpoint() {
    let dir = tiny_dir();
    let reference: Vec<_> = Checkpoint::open(&dir)
        .unwrap()
        .variables()
        .cloned()
        .collect();
    for p in [
        dir.join("albert_model.ckpt.index"),
        dir.join("albert_model.ckpt"),
        dir.join("albert_model.ckpt.data-00001-of-00002"),
    ] {
        let ckpt = Checkpoint::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let vars: Vec<_> = ckpt.variables().cloned().collect();
        assert_eq!(vars, reference, "{}", p.display());
        assert_eq!(ckpt.read_i64("global_step").unwrap(), vec![36000]);
    }
}

#[test]
fn zip_matches_directory() {
    let dir = Checkpoint::open(&tiny_dir()).unwrap();
    let zip = Checkpoint::open(&fixtures().join("albert_tiny_zh.zip")).unwrap();
    assert!(
        zip.location()
            .ends_with("albert_tiny_zh.zip!albert_tiny_zh/albert_model.ckpt"),
        "{}",
        zip.location()
    );
    check_against_expected(&zip);
    let a: Vec<_> = dir.variables().collect();
    let b: Vec<_> = zip.variables().collect();
    assert_eq!(a, b);
    for v in dir.variables() {
        if let Ok(x) = dir.read_f32(&v.name) {
            assert_bits_eq(&v.name, &zip.read_f32(&v.name).unwrap(), &x);
        }
    }
    // Shard 0 is stored (read by seeking), shard 1 deflated (inflated once); read twice to use the cache.
    for _ in 0..2 {
        assert_eq!(zip.read_i64("global_step").unwrap(), vec![36000]);
    }
    assert_eq!(dir.sibling_files(), zip.sibling_files());
    for f in dir.sibling_files() {
        assert_eq!(
            dir.read_sibling(&f).unwrap(),
            zip.read_sibling(&f).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn siblings_are_config_and_vocab_not_checkpoint_files() {
    for path in [tiny_dir(), fixtures().join("albert_tiny_zh.zip")] {
        let ckpt = Checkpoint::open(&path).unwrap();
        assert_eq!(
            ckpt.sibling_files(),
            ["albert_config_tiny.json", "checkpoint", "vocab.txt"],
            "{}",
            path.display()
        );
        let config: Value =
            serde_json::from_slice(&ckpt.read_sibling("albert_config_tiny.json").unwrap()).unwrap();
        assert_eq!(config["hidden_size"], 32);
        let vocab = String::from_utf8(ckpt.read_sibling("vocab.txt").unwrap()).unwrap();
        assert_eq!(vocab.lines().count(), 128);
        assert!(vocab.starts_with("[PAD]\n[UNK]\n[CLS]\n"));
        for bad in [
            "albert_model.ckpt.index",
            "../albert_tiny_zh.zip",
            "nope.json",
        ] {
            let err = ckpt.read_sibling(bad).unwrap_err();
            assert!(
                matches!(err, CheckpointError::NoSuchSibling { .. }),
                "{err}"
            );
            assert!(
                err.to_string().contains("vocab.txt"),
                "lists what exists: {err}"
            );
        }
    }
}

#[test]
fn multi_block_index_from_a_deflated_zip() {
    let path = fixtures().join("many_vars.zip");
    let ckpt = Checkpoint::open(&path).unwrap();
    assert_eq!(ckpt.num_shards(), 1);
    assert_eq!(ckpt.len(), 1200);
    // TensorFlow cuts .index blocks at 256 KiB; more than twice that guarantees at least three.
    let index_len = {
        let mut z = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let n = z.by_name("many_vars/model.ckpt.index").unwrap().size();
        n
    };
    assert!(
        index_len > 2 * 256 * 1024,
        "index is only {index_len} bytes"
    );
    for (i, v) in ckpt.variables().enumerate() {
        assert!(
            v.name.starts_with(&format!("v{i:04}/")),
            "{} at {i}",
            v.name
        );
        assert_eq!(v.dtype, DType::Float);
        assert!(v.shape.is_empty());
        assert_eq!(
            ckpt.read_f32(&v.name).unwrap(),
            vec![i as f32 * 0.5],
            "{}",
            v.name
        );
    }
}

#[test]
fn unknown_tensor_is_named() {
    let ckpt = Checkpoint::open(&tiny_dir()).unwrap();
    let err = ckpt.read_f32("bert/embeddings/nope").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bert/embeddings/nope"), "{msg}");
    assert!(msg.contains("albert_model.ckpt.index"), "{msg}");
}
