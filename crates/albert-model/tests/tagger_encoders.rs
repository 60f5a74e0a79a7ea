//! Every encoder behind the one tagger seam: each variable sits in the parameter group its module
//! declares, padding never changes a sentence's emissions, every variable learns, and a saved model
//! (PyTorch's own names, `config.json` naming the architecture) loads back to the same tags.

mod common;

use albert_model::{
    groups, load_model, save_model, Activation, AlbertConfig, BertConfig, BiLstmConfig,
    CharEmbeddingConfig, Encoder, EncoderSpec, Head, NerTagger, ParamGroup, Part, TaggerSpec,
    ENCODER_KEY,
};
use common::*;
use tch::{nn, Device, Kind, Tensor};

const VOCAB: i64 = 40;

fn albert() -> AlbertConfig {
    AlbertConfig {
        vocab_size: VOCAB,
        embedding_size: 8,
        hidden_size: 16,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 24,
        hidden_act: Activation::GeluNew,
        max_position_embeddings: 16,
        ..Default::default()
    }
}

fn bert() -> BertConfig {
    BertConfig {
        vocab_size: VOCAB,
        hidden_size: 16,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 24,
        max_position_embeddings: 16,
        ..Default::default()
    }
}

/// Whether the encoder ends in a BiLSTM.
fn has_lstm(kind: Encoder) -> bool {
    matches!(
        kind,
        Encoder::Bilstm | Encoder::AlbertBilstm | Encoder::BertBilstm
    )
}

fn lstm() -> BiLstmConfig {
    BiLstmConfig {
        hidden_size: 6,
        num_layers: 2,
        dropout: 0.3,
    }
}

fn encoders() -> Vec<EncoderSpec> {
    vec![
        EncoderSpec::Albert(albert()),
        EncoderSpec::Bilstm {
            embedding: CharEmbeddingConfig {
                vocab_size: VOCAB,
                char_embedding_size: 7,
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

fn tagger_spec(encoder: EncoderSpec, head: Head) -> TaggerSpec {
    TaggerSpec {
        encoder,
        labels: labels(),
        head,
    }
}

/// Rows of real ids (≥ 1) of the given lengths; positions past a row's length hold random *non-pad*
/// ids, so only the mask can tell the encoder where a sentence ends.
fn padded_ids(lengths: &[i64], t: i64) -> (Tensor, Tensor) {
    let ids = Tensor::randint_low(
        1,
        VOCAB,
        [lengths.len() as i64, t],
        (Kind::Int64, Device::Cpu),
    );
    let positions = Tensor::arange(t, (Kind::Int64, Device::Cpu)).unsqueeze(0);
    let mask = positions.lt_tensor(&Tensor::from_slice(lengths).unsqueeze(1));
    (ids, mask.to_kind(Kind::Int64))
}

#[test]
fn every_variable_is_in_the_group_its_module_declares() {
    for encoder in encoders() {
        let kind = encoder.kind();
        let vs = nn::VarStore::new(Device::Cpu);
        let _t = NerTagger::new(&vs.root(), &tagger_spec(encoder, Head::Crf));
        let declared = groups(&vs);
        assert_eq!(declared.len(), vs.variables().len(), "{kind:?}");
        for (name, group) in &declared {
            let leaf = name.rsplit('.').next().unwrap();
            let part = match name.split('.').next().unwrap() {
                "albert" | "bert" | "embedding" => Part::Encoder,
                "lstm" => Part::Lstm,
                "classifier" | "crf" => Part::Head,
                other => panic!("{kind:?}: unexpected top-level module {other}"),
            };
            let no_decay = leaf == "bias"
                || leaf.starts_with("bias_")
                || name.contains("LayerNorm")
                || name.contains("layer_norm");
            assert_eq!(*group, ParamGroup::new(part, !no_decay), "{kind:?}: {name}");
        }
        let lstm_vars = declared.keys().filter(|n| n.starts_with("lstm.")).count();
        let expected = if has_lstm(kind) { 2 * 2 * 4 } else { 0 };
        assert_eq!(
            lstm_vars, expected,
            "{kind:?}: two layers × two directions × four tensors"
        );
    }
}

#[test]
fn every_encoders_parameter_count_is_what_it_allocates() {
    for encoder in encoders() {
        let kind = encoder.kind();
        let counted = encoder.parameter_count();
        let vs = nn::VarStore::new(Device::Cpu);
        let _t = NerTagger::new(&vs.root(), &tagger_spec(encoder, Head::Crf));
        let encoder_vars: i64 = vs
            .variables()
            .iter()
            .filter(|(name, _)| !name.starts_with("classifier.") && !name.starts_with("crf."))
            .map(|(_, t)| t.numel() as i64)
            .sum();
        assert_eq!(counted, encoder_vars as f64, "{kind:?}");
    }
}

#[test]
fn a_sentences_emissions_are_the_same_alone_and_in_a_padded_batch() {
    for encoder in encoders() {
        let kind = encoder.kind();
        tch::manual_seed(11);
        let vs = nn::VarStore::new(Device::Cpu);
        let tagger = NerTagger::new(&vs.root(), &tagger_spec(encoder, Head::Crf));
        let lengths = [7i64, 12, 3, 12, 1];
        let (ids, mask) = padded_ids(&lengths, 12);
        let positions = Tensor::arange(12, (Kind::Int64, Device::Cpu))
            .unsqueeze(0)
            .repeat([5, 1]);
        let together = tch::no_grad(|| tagger.emissions(&ids, &mask, &positions, false));
        for (row, &len) in lengths.iter().enumerate() {
            let r = row as i64;
            let alone = tch::no_grad(|| {
                tagger.emissions(
                    &ids.narrow(0, r, 1).narrow(1, 0, len),
                    &mask.narrow(0, r, 1).narrow(1, 0, len),
                    &positions.narrow(0, r, 1).narrow(1, 0, len),
                    false,
                )
            });
            let in_batch = together.narrow(0, r, 1).narrow(1, 0, len);
            let diff = max_diff(&in_batch, &alone);
            assert!(
                diff < 1e-5,
                "{kind:?}: row {row} (length {len}) differs by {diff}"
            );
        }
    }
}

#[test]
fn every_variable_gets_a_gradient() {
    for encoder in encoders() {
        let kind = encoder.kind();
        tch::manual_seed(12);
        let vs = nn::VarStore::new(Device::Cpu);
        let tagger = NerTagger::new(&vs.root(), &tagger_spec(encoder, Head::Crf));
        let (ids, mask) = padded_ids(&[6, 9], 9);
        let positions = Tensor::arange(9, (Kind::Int64, Device::Cpu))
            .unsqueeze(0)
            .repeat([2, 1]);
        let tags = Tensor::randint(5, [2, 9], (Kind::Int64, Device::Cpu));
        let em = tagger.emissions(&ids, &mask, &positions, true);
        tagger.loss(&em, &tags, &mask).backward();
        for (name, v) in vs.variables() {
            if name.ends_with("token_type_embeddings.weight")
                || name.ends_with("position_embeddings.weight")
            {
                continue; // rows beyond the sequence or type 1 get none; the table as a whole does
            }
            let g = v.grad();
            let size = if g.defined() {
                f64::try_from(g.abs().sum(Kind::Double)).unwrap()
            } else {
                0.0
            };
            assert!(size > 0.0, "{kind:?}: {name} got no gradient");
        }
    }
}

#[test]
fn saved_models_load_back_under_pytorch_names_with_the_architecture_named() {
    for encoder in encoders() {
        for head in [Head::Crf, Head::Softmax] {
            let kind = encoder.kind();
            tch::manual_seed(13);
            let spec = tagger_spec(encoder.clone(), head);
            let vs = nn::VarStore::new(Device::Cpu);
            let tagger = NerTagger::new(&vs.root(), &spec);
            let dir = tempfile::tempdir().unwrap();
            let vocab = dir.path().join("source_vocab.txt");
            std::fs::write(&vocab, "[PAD]\n[UNK]\n").unwrap();
            save_model(dir.path(), &vs, &spec, &vocab).unwrap();

            let config: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(config[ENCODER_KEY], serde_json::to_value(kind).unwrap());
            let names: Vec<String> = Tensor::read_safetensors(dir.path().join("model.safetensors"))
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            if has_lstm(kind) {
                assert_eq!(config["lstm_hidden_size"], 6);
                assert_eq!(config["lstm_layers"], 2);
                for n in [
                    "lstm.weight_ih_l0",
                    "lstm.weight_hh_l1_reverse",
                    "lstm.bias_ih_l1",
                    "classifier.weight",
                ] {
                    assert!(
                        names.contains(&n.to_string()),
                        "{kind:?}: {n} not in {names:?}"
                    );
                }
            }
            if kind == Encoder::Bilstm {
                assert_eq!(config["architectures"][0], "BiLstmForTokenClassification");
                assert_eq!(config["char_embedding_size"], 7);
                assert!(config.get("model_type").is_none(), "not an ALBERT config");
                assert!(names.contains(&"embedding.weight".to_string()));
            } else if matches!(kind, Encoder::Bert | Encoder::BertBilstm) {
                assert_eq!(config["model_type"], "bert");
            } else {
                assert_eq!(config["model_type"], "albert");
            }

            let (_vs2, loaded, loaded_spec, _) = load_model(dir.path(), Device::Cpu).unwrap();
            assert_eq!(loaded_spec, spec, "{kind:?} {head:?}");
            let (ids, mask) = padded_ids(&[5, 8], 8);
            let positions = Tensor::arange(8, (Kind::Int64, Device::Cpu))
                .unsqueeze(0)
                .repeat([2, 1]);
            let (a, b) = tch::no_grad(|| {
                (
                    tagger.emissions(&ids, &mask, &positions, false),
                    loaded.emissions(&ids, &mask, &positions, false),
                )
            });
            assert_eq!(max_diff(&a, &b), 0.0, "{kind:?} {head:?}");
            assert_eq!(
                tagger.decode(&a, &mask, true),
                loaded.decode(&b, &mask, true)
            );
        }
    }
}

#[test]
fn a_config_with_a_bad_encoder_is_refused_naming_file_and_key() {
    let spec = tagger_spec(encoders().remove(1), Head::Crf);
    let vs = nn::VarStore::new(Device::Cpu);
    let _t = NerTagger::new(&vs.root(), &spec);
    let dir = tempfile::tempdir().unwrap();
    let vocab = dir.path().join("v.txt");
    std::fs::write(&vocab, "[PAD]\n").unwrap();
    save_model(dir.path(), &vs, &spec, &vocab).unwrap();
    let path = dir.path().join("config.json");
    let original = std::fs::read_to_string(&path).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&original).unwrap();
    for (edit, expected) in [
        (
            serde_json::json!({ENCODER_KEY: "transformer"}),
            "transformer",
        ),
        // The error lists every spelling of the one table (ner_settings::Encoder).
        (serde_json::json!({ENCODER_KEY: "gru"}), "\"bert_bilstm\""),
        (serde_json::json!({"lstm_layers": null}), "lstm_layers"),
        (
            serde_json::json!({"lstm_layers": 0}),
            "lstm_layers must be positive",
        ),
    ] {
        let mut edited = config.clone();
        for (k, v) in edit.as_object().unwrap() {
            edited[k] = v.clone();
        }
        std::fs::write(&path, edited.to_string()).unwrap();
        let err = load_model(dir.path(), Device::Cpu).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains(expected),
            "{err}"
        );
    }
    config[ENCODER_KEY] = "bilstm".into();
    std::fs::write(&path, config.to_string()).unwrap();
    assert!(load_model(dir.path(), Device::Cpu).is_ok());
    // Read as the hyperparameter is: any case, any of its spellings.
    config[ENCODER_KEY] = "BiLSTM_CRF".into();
    std::fs::write(&path, config.to_string()).unwrap();
    assert_eq!(
        load_model(dir.path(), Device::Cpu)
            .unwrap()
            .2
            .encoder
            .kind(),
        Encoder::Bilstm
    );
}
