//! A tagger's linear layers converted for inference: int8 emissions against torch's own
//! `quantize_dynamic` of the same saved model (transformers' `*ForTokenClassification`), bf16 emissions
//! against our fp32 ones, and every encoder converting to both.

mod common;

use std::path::Path;

use albert_model::{
    save_model, Activation, AlbertConfig, BertConfig, BiLstmConfig, CharEmbeddingConfig,
    EncoderSpec, Head, InferenceWeights, NerTagger, TaggerSpec,
};
use tch::{nn, Device, Kind, Tensor};

const VOCAB: i64 = 60;
const T: i64 = 12;

/// Held by each test from its `manual_seed` on: libtorch's generator is one per process and the tests
/// run on parallel threads, so without it another test's draws interleave with this one's and its
/// weights, and its result, change from run to run.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Seeds libtorch's generator for the calling test, which holds the returned guard to its end.
fn seeded(seed: i64) -> std::sync::MutexGuard<'static, ()> {
    let guard = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    guard
}

fn albert() -> AlbertConfig {
    AlbertConfig {
        vocab_size: VOCAB,
        embedding_size: 32,
        hidden_size: 64,
        num_hidden_layers: 3,
        num_hidden_groups: 1,
        num_attention_heads: 4,
        intermediate_size: 128,
        hidden_act: Activation::GeluNew,
        max_position_embeddings: 16,
        ..Default::default()
    }
}

fn bert() -> BertConfig {
    BertConfig {
        vocab_size: VOCAB,
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 128,
        max_position_embeddings: 16,
        ..Default::default()
    }
}

fn lstm() -> BiLstmConfig {
    BiLstmConfig {
        hidden_size: 16,
        num_layers: 1,
        dropout: 0.0,
    }
}

fn every_encoder() -> Vec<EncoderSpec> {
    vec![
        EncoderSpec::Albert(albert()),
        EncoderSpec::Bilstm {
            embedding: CharEmbeddingConfig {
                vocab_size: VOCAB,
                char_embedding_size: 24,
                pad_token_id: 0,
            },
            lstm: lstm(),
        },
        EncoderSpec::AlbertBilstm {
            albert: albert(),
            lstm: lstm(),
        },
        EncoderSpec::Bert(bert()),
        EncoderSpec::BertBilstm {
            bert: bert(),
            lstm: lstm(),
        },
    ]
}

/// A tagger over `encoder` whose every variable moved off its initial value (so that each layer's
/// weights have a spread of row ranges for the quantization to meet).
fn perturbed_tagger(encoder: EncoderSpec) -> (nn::VarStore, NerTagger, TaggerSpec) {
    let spec = TaggerSpec {
        encoder,
        labels: common::labels(),
        head: Head::Crf,
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let tagger = NerTagger::new(&vs.root(), &spec);
    tch::no_grad(|| {
        // By name: `variables()` is a HashMap, whose order (and so which noise lands where) changes
        // from run to run.
        let mut variables: Vec<_> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, mut v) in variables {
            let noise = Tensor::randn(v.size(), (Kind::Float, Device::Cpu)) * 0.1;
            let _ = v.g_add_(&noise);
        }
    });
    (vs, tagger, spec)
}

/// Three rows of lengths 12, 9 and 5 (then padding id 0), and their 0/1 mask.
fn batch() -> (Tensor, Tensor) {
    let ids = Tensor::randint_low(1, VOCAB, [3, T], (Kind::Int64, Device::Cpu));
    let lengths = Tensor::from_slice(&[12i64, 9, 5]).unsqueeze(1);
    let mask = Tensor::arange(T, (Kind::Int64, Device::Cpu))
        .unsqueeze(0)
        .lt_tensor(&lengths)
        .to_kind(Kind::Int64);
    (ids * &mask, mask)
}

/// Emissions at every token position, [B, T, K].
fn emissions(tagger: &NerTagger, ids: &Tensor, mask: &Tensor) -> Tensor {
    let positions = Tensor::arange(T, (Kind::Int64, Device::Cpu))
        .unsqueeze(0)
        .expand([ids.size()[0], T], false);
    tch::no_grad(|| tagger.emissions(ids, mask, &positions, false))
}

/// The tagger converted to `form`, as a copy (its own variables, loaded from `vs`).
fn converted(spec: &TaggerSpec, vs: &nn::VarStore, form: InferenceWeights) -> NerTagger {
    let mut copy_vs = nn::VarStore::new(Device::Cpu);
    let mut tagger = NerTagger::new(&copy_vs.root(), spec);
    copy_vs.copy(vs).unwrap();
    tagger.convert_linear_layers(form).unwrap();
    assert_eq!(tagger.inference_weights(), form);
    tagger
}

fn run_reference(model_dir: &Path, ids: &Tensor, mask: &Tensor) -> (Tensor, Tensor) {
    let input = model_dir.join("batch.safetensors");
    Tensor::write_safetensors(
        &[
            ("input_ids", ids.shallow_clone()),
            ("attention_mask", mask.shallow_clone()),
        ],
        &input,
    )
    .unwrap();
    let output = model_dir.join("reference.safetensors");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/int8_reference.py");
    let status = std::process::Command::new(common::python())
        .arg(script)
        .args([model_dir, &input, &output])
        .status()
        .expect("running the Python side");
    assert!(status.success(), "int8_reference.py failed: {status}");
    let mut refs: std::collections::HashMap<_, _> = Tensor::read_safetensors(&output)
        .unwrap()
        .into_iter()
        .collect();
    (refs.remove("fp32").unwrap(), refs.remove("int8").unwrap())
}

/// Our int8 emissions are torch's `quantize_dynamic` ones (the same kernels on the same quantized
/// weights: they came out identical when written): within 0.1 % of the emissions' range at every real
/// token, at least 10 times closer to them than to fp32's (so the comparison can tell int8 from
/// fp32), and our fp32 is transformers' fp32 to 1e-4.
#[test]
fn int8_emissions_equal_torch_quantize_dynamic_on_the_same_weights() {
    let _seeded = seeded(5);
    for encoder in [EncoderSpec::Albert(albert()), EncoderSpec::Bert(bert())] {
        let name = encoder.describe();
        let (vs, tagger, spec) = perturbed_tagger(encoder);
        let dir = tempfile::tempdir().unwrap();
        let vocab = dir.path().join("vocab-src.txt");
        std::fs::write(&vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n").unwrap();
        save_model(dir.path(), &vs, &spec, &vocab).unwrap();
        let (ids, mask) = batch();

        let fp32 = emissions(&tagger, &ids, &mask);
        let int8 = emissions(&converted(&spec, &vs, InferenceWeights::Int8), &ids, &mask);
        let (torch_fp32, torch_int8) = run_reference(dir.path(), &ids, &mask);

        let fp32_gap = common::max_diff_masked(&fp32, &torch_fp32, &mask);
        assert!(fp32_gap < 1e-4, "{name}: fp32 vs transformers {fp32_gap}");
        let range = f64::try_from(torch_fp32.abs().max()).unwrap();
        let gap = common::max_diff_masked(&int8, &torch_int8, &mask);
        let quantization = common::max_diff_masked(&int8, &fp32, &mask);
        eprintln!("{name}: range {range:.3}, int8 vs torch int8 {gap:.2e}, int8 vs fp32 {quantization:.2e}");
        assert!(
            gap < 1e-3 * range,
            "{name}: int8 vs torch's int8: {gap} (range {range})"
        );
        assert!(
            gap * 10.0 < quantization,
            "{name}: int8 is {gap} from torch's int8 but only {quantization} from fp32"
        );
    }
}

/// bf16 emissions stay within 2 % of the emissions' range of fp32's at every real token (bf16 keeps 8
/// bits of mantissa), and differ from them (the layers did compute in bf16).
#[test]
fn bf16_emissions_stay_near_fp32_for_every_encoder() {
    let _seeded = seeded(6);
    for encoder in every_encoder() {
        let name = encoder.describe();
        let (vs, tagger, spec) = perturbed_tagger(encoder);
        let (ids, mask) = batch();
        let fp32 = emissions(&tagger, &ids, &mask);
        let bf16 = emissions(&converted(&spec, &vs, InferenceWeights::Bf16), &ids, &mask);
        assert_eq!(bf16.kind(), Kind::Float, "{name}: emissions leave in fp32");
        let range = f64::try_from(fp32.abs().max()).unwrap();
        let gap = common::max_diff_masked(&bf16, &fp32, &mask);
        eprintln!("{name}: range {range:.3}, bf16 vs fp32 {gap:.2e}");
        assert!(
            gap < 0.02 * range,
            "{name}: bf16 vs fp32 {gap} (range {range})"
        );
        assert!(gap > 0.0, "{name}: bf16 emissions are exactly fp32's");
    }
}

/// int8 converts every encoder: a BiLSTM alone has only its classifier quantized; every encoder's
/// emissions stay within 8 % of the range of fp32's (these weights are random, wider-spread than
/// trained ones: 4 % at most when written) and differ from them.
#[test]
fn int8_emissions_stay_near_fp32_for_every_encoder() {
    let _seeded = seeded(7);
    for encoder in every_encoder() {
        let name = encoder.describe();
        let (vs, tagger, spec) = perturbed_tagger(encoder);
        let (ids, mask) = batch();
        let fp32 = emissions(&tagger, &ids, &mask);
        let int8 = emissions(&converted(&spec, &vs, InferenceWeights::Int8), &ids, &mask);
        let range = f64::try_from(fp32.abs().max()).unwrap();
        let gap = common::max_diff_masked(&int8, &fp32, &mask);
        eprintln!("{name}: range {range:.3}, int8 vs fp32 {gap:.2e}");
        assert!(
            gap < 0.08 * range,
            "{name}: int8 vs fp32 {gap} (range {range})"
        );
        assert!(gap > 0.0, "{name}: int8 emissions are exactly fp32's");
    }
}
