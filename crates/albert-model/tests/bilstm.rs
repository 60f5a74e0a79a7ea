//! The BiLSTM encoder: padding never changes a row's result (the backward direction starts at each row's
//! last real position), and it computes what `torch.nn.LSTM` computes over `pack_padded_sequence` on the
//! same weights, saved under `nn.LSTM`'s own names.

mod common;

use albert_model::{BiLstm, BiLstmConfig, Part};
use tch::{nn, Device, Kind, Tensor};

const INPUT_SIZE: i64 = 6;
const CONFIG: BiLstmConfig = BiLstmConfig {
    hidden_size: 5,
    num_layers: 2,
    dropout: 0.0,
};

/// A batch whose padded positions hold large random values, so any leak of padding would show.
fn padded_batch(lengths: &[i64], seq_len: i64) -> Tensor {
    let x = Tensor::randn(
        [lengths.len() as i64, seq_len, INPUT_SIZE],
        (Kind::Float, Device::Cpu),
    );
    for (row, &len) in lengths.iter().enumerate() {
        if len < seq_len {
            x.get(row as i64).narrow(0, len, seq_len - len).copy_(
                &(Tensor::randn([seq_len - len, INPUT_SIZE], (Kind::Float, Device::Cpu)) * 100.0),
            );
        }
    }
    x
}

/// The `[B, T]` 0/1 mask of rows with these many real positions at the front.
fn mask_of(lengths: &[i64], seq_len: i64) -> Tensor {
    let positions = Tensor::arange(seq_len, (Kind::Int64, Device::Cpu)).unsqueeze(0);
    positions
        .lt_tensor(&Tensor::from_slice(lengths).unsqueeze(1))
        .to_kind(Kind::Int64)
}

#[test]
fn a_rows_output_is_the_same_alone_and_in_a_padded_batch() {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let lstm = BiLstm::new(&(vs.root() / "lstm"), INPUT_SIZE, CONFIG, Part::Lstm);
    let lengths = [5i64, 9, 2, 9, 1];
    let batch = padded_batch(&lengths, 9);
    let together = tch::no_grad(|| lstm.forward(&batch, &mask_of(&lengths, 9), false));
    assert_eq!(together.size(), [5, 9, 2 * CONFIG.hidden_size]);
    for (row, &len) in lengths.iter().enumerate() {
        let alone_input = batch.get(row as i64).narrow(0, 0, len).unsqueeze(0);
        let alone =
            tch::no_grad(|| lstm.forward(&alone_input, &mask_of(&[len], len), false)).get(0);
        let in_batch = together.get(row as i64);
        let diff = f64::try_from((in_batch.narrow(0, 0, len) - &alone).abs().max()).unwrap();
        assert!(diff < 1e-6, "row {row} (length {len}): {diff}");
        if len < 9 {
            let pad = f64::try_from(in_batch.narrow(0, len, 9 - len).abs().max()).unwrap();
            assert_eq!(pad, 0.0, "row {row}: padded positions are zero");
        }
    }
}

#[test]
fn matches_torch_nn_lstm_over_packed_sequences_on_the_same_weights() {
    tch::manual_seed(4);
    let vs = nn::VarStore::new(Device::Cpu);
    let lstm = BiLstm::new(&(vs.root() / "lstm"), INPUT_SIZE, CONFIG, Part::Lstm);
    let lengths = [3i64, 7, 7, 1, 4];
    let input = padded_batch(&lengths, 7);
    let ours = tch::no_grad(|| lstm.forward(&input, &mask_of(&lengths, 7), false));

    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (
        dir.path().join("in.safetensors"),
        dir.path().join("out.safetensors"),
    );
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l1_reverse",
        "lstm.bias_ih_l1",
        "lstm.bias_hh_l0_reverse",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(names.len(), 16, "4 tensors per layer and direction");
    named.push(("input".into(), input.shallow_clone()));
    named.push(("lengths".into(), Tensor::from_slice(&lengths)));
    Tensor::write_safetensors(&named, &inp).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/lstm_reference.py");
    let status = std::process::Command::new(common::python())
        .arg(&script)
        .arg(&inp)
        .arg(&out)
        .status()
        .expect("running the Python reference");
    assert!(status.success(), "lstm_reference.py failed: {status}");
    let reference = Tensor::read_safetensors(&out).unwrap().remove(0).1;
    let diff = common::max_diff(&ours, &reference);
    assert!(diff < 1e-5, "BiLstm vs torch.nn.LSTM: max |diff| {diff}");
}
