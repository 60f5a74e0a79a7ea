//! Properties of the encoder and tagger that hold whatever the weights: padding is invisible,
//! dropout only in training (optimizer groups: tests/tagger_encoders.rs).

mod common;

use albert_model::{Activation, AlbertConfig, Head, NerTagger};
use common::*;
use tch::{nn, Kind, Tensor};

fn cfg() -> AlbertConfig {
    AlbertConfig {
        vocab_size: 50,
        embedding_size: 8,
        hidden_size: 16,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 24,
        hidden_act: Activation::GeluNew,
        max_position_embeddings: 16,
        hidden_dropout_prob: 0.2,
        attention_probs_dropout_prob: 0.2,
        ..Default::default()
    }
}

#[test]
fn padded_positions_get_no_attention_weight() {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let t = NerTagger::new(&vs.root(), &spec(cfg(), Head::Crf));
    let ids = Tensor::from_slice2(&[[2i64, 10, 11, 12, 3, 0, 0, 0]]);
    let mask = Tensor::from_slice2(&[[1i64, 1, 1, 1, 1, 0, 0, 0]]);
    let other_pad = Tensor::from_slice2(&[[2i64, 10, 11, 12, 3, 40, 41, 42]]);
    let h1 = t.hidden_states(&ids, &mask, false).narrow(1, 0, 5);
    let h2 = t.hidden_states(&other_pad, &mask, false).narrow(1, 0, 5);
    assert!(
        max_diff(&h1, &h2) < 1e-6,
        "padding content leaked into real tokens"
    );
    // And the unpadded sequence alone gives the same states.
    let h3 = t.hidden_states(&ids.narrow(1, 0, 5), &mask.narrow(1, 0, 5), false);
    assert!(max_diff(&h1, &h3) < 1e-5);
    // A bool mask works the same as 0/1 integers.
    let h4 = t
        .hidden_states(&ids, &mask.to_kind(Kind::Bool), false)
        .narrow(1, 0, 5);
    assert!(max_diff(&h1, &h4) < 1e-7);
}

#[test]
fn dropout_only_when_training() {
    tch::manual_seed(2);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let t = NerTagger::new(&vs.root(), &spec(cfg(), Head::Softmax));
    let ids = Tensor::from_slice2(&[[2i64, 10, 11, 3]]);
    let mask = Tensor::ones([1, 4], (Kind::Int64, tch::Device::Cpu));
    let pos = Tensor::from_slice2(&[[1i64, 2]]);
    let e1 = t.emissions(&ids, &mask, &pos, false);
    let e2 = t.emissions(&ids, &mask, &pos, false);
    assert_eq!(max_diff(&e1, &e2), 0.0);
    let e3 = t.emissions(&ids, &mask, &pos, true);
    assert!(max_diff(&e1, &e3) > 1e-6);
    assert_eq!(e1.size(), vec![1, 2, 5]);
}

#[test]
fn loss_backpropagates_to_encoder_and_head() {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let t = NerTagger::new(&vs.root(), &spec(cfg(), Head::Crf));
    let ids = Tensor::from_slice2(&[[2i64, 10, 11, 3], [2, 12, 3, 0]]);
    let mask = Tensor::from_slice2(&[[1i64, 1, 1, 1], [1, 1, 1, 0]]);
    let pos = Tensor::from_slice2(&[[1i64, 2], [1, 0]]);
    let tag_mask = Tensor::from_slice2(&[[true, true], [true, false]]);
    let tags = Tensor::from_slice2(&[[1i64, 2], [0, -100]]);
    let em = t.emissions(&ids, &mask, &pos, true);
    let loss = t.loss(&em, &tags, &tag_mask);
    loss.backward();
    let vars = vs.variables();
    for name in [
        "albert.embeddings.word_embeddings.weight",
        "classifier.weight",
        "crf.transitions",
    ] {
        let g = vars[name].grad();
        assert!(
            g.defined() && f64::try_from(g.abs().sum(Kind::Double)).unwrap() > 0.0,
            "{name} got no gradient"
        );
    }
}

/// Only meaningful on a CUDA machine (the fused attention kernels differ from the CPU path); on a
/// CPU-only machine there is nothing to compare and the test passes trivially.
#[test]
fn cuda_matches_cpu_when_available() {
    if !tch::Cuda::is_available() {
        return;
    }
    tch::manual_seed(4);
    let spec = spec(cfg(), Head::Crf);
    let cpu = nn::VarStore::new(tch::Device::Cpu);
    let t_cpu = NerTagger::new(&cpu.root(), &spec);
    let mut gpu = nn::VarStore::new(tch::Device::Cuda(0));
    let t_gpu = NerTagger::new(&gpu.root(), &spec);
    gpu.copy(&cpu).unwrap();
    let ids = Tensor::from_slice2(&[[2i64, 10, 11, 12, 3, 0], [2, 13, 3, 0, 0, 0]]);
    let mask = ids.ne(0).to_kind(Kind::Int64);
    let pos = Tensor::from_slice2(&[[1i64, 2, 3], [1, 0, 0]]);
    let tag_mask = Tensor::from_slice2(&[[true, true, true], [true, false, false]]);
    let dev = tch::Device::Cuda(0);
    let e_cpu = t_cpu.emissions(&ids, &mask, &pos, false);
    let e_gpu = t_gpu.emissions(
        &ids.to_device(dev),
        &mask.to_device(dev),
        &pos.to_device(dev),
        false,
    );
    assert!(max_diff(&e_cpu, &e_gpu.to_device(tch::Device::Cpu)) < 1e-3);
    assert_eq!(
        t_cpu.decode(&e_cpu, &tag_mask, true),
        t_gpu.decode(&e_gpu, &tag_mask.to_device(dev), true)
    );
}

#[test]
fn softmax_bio_constraints_repair_invalid_argmax() {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let t = NerTagger::new(&vs.root(), &spec(cfg(), Head::Softmax));
    // Labels O, B-PER, I-PER, B-LOC, I-LOC. Argmax would be [O, I-PER]: invalid BIO.
    let em =
        Tensor::from_slice(&[5.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 1.9, 2.0, 0.0, 0.0]).view([1, 2, 5]);
    let mask = Tensor::from_slice2(&[[true, true]]);
    assert_eq!(t.decode(&em, &mask, false), vec![vec![0, 2]]);
    assert_eq!(t.decode(&em, &mask, true), vec![vec![0, 1]]);
}
