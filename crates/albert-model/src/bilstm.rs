//! A bidirectional, multi-layer LSTM over padded batches whose result never depends on the padding: the
//! backward direction of each row starts at that row's last real position, as `torch.nn.LSTM` does over
//! a `pack_padded_sequence`. It runs exactly that (libtorch's packed LSTM), so the weights are
//! `nn.LSTM`'s own, under its own names (`weight_ih_l0`, `weight_hh_l0_reverse`, `bias_ih_l1`, ...), and
//! a saved model loads into `torch.nn.LSTM(batch_first=True, bidirectional=True)` unchanged.

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::params::{var, ParamGroup, Part};

/// The shape of a [`BiLstm`] (its input size is whatever feeds it), saved in `config.json` under these
/// names.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiLstmConfig {
    /// Per direction; the output has twice this many features.
    #[serde(rename = "lstm_hidden_size")]
    pub hidden_size: i64,
    #[serde(rename = "lstm_layers")]
    pub num_layers: i64,
    /// In training only: on the LSTM's input, between layers (as `nn.LSTM`'s `dropout`) and on its
    /// output (before the classifier).
    #[serde(rename = "lstm_dropout")]
    pub dropout: f64,
}

/// `nn.LSTM(input_size, hidden_size, num_layers, bidirectional=True, batch_first=True)`.
#[derive(Debug)]
pub struct BiLstm {
    config: BiLstmConfig,
    input_size: i64,
    /// In `nn.LSTM`'s `_flat_weights` order: per layer, per direction, `w_ih, w_hh, b_ih, b_hh`.
    weights: Vec<Tensor>,
}

impl BiLstm {
    /// Creates the variables under `path` in `part`'s groups (weights decay, biases do not), drawn from
    /// uniform(-1/√H, 1/√H) as `nn.LSTM` initialises them.
    pub fn new(path: &nn::Path, input_size: i64, config: BiLstmConfig, part: Part) -> Self {
        let h = config.hidden_size;
        let bound = 1.0 / (h as f64).sqrt();
        let init = nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let mut weights = Vec::new();
        for layer in 0..config.num_layers {
            let input = if layer == 0 { input_size } else { 2 * h };
            for suffix in ["", "_reverse"] {
                let matrix = |name: &str, cols| {
                    let name = format!("{name}_l{layer}{suffix}");
                    var(
                        path,
                        &name,
                        &[4 * h, cols],
                        init,
                        ParamGroup::new(part, true),
                    )
                };
                let bias = |name: &str| {
                    let name = format!("{name}_l{layer}{suffix}");
                    var(path, &name, &[4 * h], init, ParamGroup::new(part, false))
                };
                weights.extend([
                    matrix("weight_ih", input),
                    matrix("weight_hh", h),
                    bias("bias_ih"),
                    bias("bias_hh"),
                ]);
            }
        }
        Self {
            config,
            input_size,
            weights,
        }
    }

    pub fn config(&self) -> BiLstmConfig {
        self.config
    }

    /// Features per position of the input.
    pub fn input_size(&self) -> i64 {
        self.input_size
    }

    /// The kind the weights hold.
    pub fn kind(&self) -> tch::Kind {
        self.weights[0].kind()
    }

    /// Features per position of the output (both directions).
    pub fn output_size(&self) -> i64 {
        2 * self.config.hidden_size
    }

    /// `[B, T, 2H]` for `input` `[B, T, input_size]` whose row `b` has `lengths[b]` (≥ 1) real positions
    /// at the front; positions past a row's length are zero. Rows are packed longest first and restored
    /// to their order afterwards, so the caller's batch may be in any order.
    ///
    /// # Panics
    /// If `lengths` does not have one entry per row, or an entry is 0 or longer than `T`.
    pub fn forward(&self, input: &Tensor, lengths: &[i64], train: bool) -> Tensor {
        let (batch, seq_len, _) = input.size3().expect("BiLstm input must be [B, T, I]");
        assert_eq!(lengths.len() as i64, batch, "one length per row");
        assert!(
            lengths.iter().all(|&l| l >= 1 && l <= seq_len),
            "lengths {lengths:?} must be in 1..={seq_len}"
        );
        let device = input.device();
        let mut order: Vec<i64> = (0..batch).collect();
        order.sort_by_key(|&row| std::cmp::Reverse(lengths[row as usize]));
        let sorted_lengths: Vec<i64> = order.iter().map(|&row| lengths[row as usize]).collect();
        let mut restore = vec![0i64; order.len()];
        for (position, &row) in order.iter().enumerate() {
            restore[row as usize] = position as i64;
        }
        let order = Tensor::from_slice(&order).to_device(device);
        let restore = Tensor::from_slice(&restore).to_device(device);

        let sorted = input.index_select(0, &order);
        // The lengths stay on the CPU, as libtorch's packing wants them.
        let (data, batch_sizes) = Tensor::internal_pack_padded_sequence(
            &sorted,
            &Tensor::from_slice(&sorted_lengths),
            true,
        );
        let h = self.config.hidden_size;
        let state = Tensor::zeros(
            [2 * self.config.num_layers, batch, h],
            (input.kind(), device),
        );
        let weights: Vec<&Tensor> = self.weights.iter().collect();
        let (packed, _, _) = Tensor::lstm_data(
            &data,
            &batch_sizes,
            &[&state, &state],
            &weights,
            true,
            self.config.num_layers,
            self.config.dropout,
            train,
            true,
        );
        let (padded, _) =
            Tensor::internal_pad_packed_sequence(&packed, &batch_sizes, true, 0.0, seq_len);
        padded.index_select(0, &restore)
    }
}
