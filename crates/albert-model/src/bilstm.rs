//! A bidirectional, multi-layer LSTM over padded batches whose result never depends on the padding: the
//! backward direction of each row starts at that row's last real position, as `torch.nn.LSTM` does over
//! a `pack_padded_sequence` (see [`BiLstm::forward`] for how). The weights are `nn.LSTM`'s own, under
//! its own names (`weight_ih_l0`, `weight_hh_l0_reverse`, `bias_ih_l1`, ...), and
//! a saved model loads into `torch.nn.LSTM(batch_first=True, bidirectional=True)` unchanged.

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use crate::embeddings::{dropout, positions};
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

impl BiLstmConfig {
    /// Parameters of the LSTM over `input_size` features: per layer and direction `w_ih`, `w_hh` and
    /// two biases, as [`BiLstm::new`] allocates them.
    pub fn parameter_count(&self, input_size: i64) -> f64 {
        let h = self.hidden_size as f64;
        (0..self.num_layers)
            .map(|layer| {
                let input = if layer == 0 {
                    input_size as f64
                } else {
                    2.0 * h
                };
                2.0 * (4.0 * h * (input + h) + 8.0 * h)
            })
            .sum()
    }
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

    /// `[B, T, 2H]` for `input` `[B, T, input_size]` whose real positions `attention_mask` `[B, T]` (0/1
    /// or bool) marks, at the front of each row; padded positions of the output are zero.
    ///
    /// What `nn.LSTM` computes over a `pack_padded_sequence`, without packing: the forward direction
    /// runs over the padded rows (a real position's state depends only on the positions before it),
    /// and the backward direction over each row with its real positions reversed in place (so it
    /// starts at the row's last real position and, again, never reads the padding that follows), its
    /// output reversed back. libtorch's unpacked LSTM computes each direction's input projections in
    /// one product and, on a CPU, ran ~3× faster than its packed one at MSRA's lengths. Everything stays
    /// on the input's device: the lengths are never read on the host.
    ///
    /// # Panics
    /// If `attention_mask` is not `[B, T]`.
    pub fn forward(&self, input: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
        let (batch, seq_len, _) = input.size3().expect("BiLstm input must be [B, T, I]");
        assert_eq!(
            attention_mask.size(),
            [batch, seq_len],
            "one mask entry per position"
        );
        let device = input.device();
        let positions = positions(attention_mask).unsqueeze(0);
        let mut lengths = attention_mask.ne(0).sum_dim_intlist(1, true, Kind::Int64);
        // A no-op move is still an operation: a traced graph would pin the device it was traced on.
        if lengths.device() != device {
            lengths = lengths.to_device(device);
        }
        let real = positions.lt_tensor(&lengths);
        // Row b's position t ↦ len_b - 1 - t inside the sentence, t in the padding (an involution).
        let reversal = (&lengths - 1 - &positions).where_self(&real, &positions);
        let mask = real.unsqueeze(-1).to_kind(input.kind());
        let mut x = input * &mask;
        for layer in 0..self.config.num_layers {
            if layer > 0 {
                x = dropout(&x, self.config.dropout, train);
            }
            let forward = self.direction(&x, layer, Direction::Forward, train);
            let backward = reorder(
                &self.direction(&reorder(&x, &reversal), layer, Direction::Backward, train),
                &reversal,
            );
            x = Tensor::cat(&[forward, backward], 2) * &mask;
        }
        x
    }

    /// One direction of one layer over `[B, T, I]`, from zero states.
    fn direction(&self, x: &Tensor, layer: i64, direction: Direction, train: bool) -> Tensor {
        let first = (2 * layer as usize + direction as usize) * 4;
        let weights: Vec<&Tensor> = self.weights[first..first + 4].iter().collect();
        // [1, B, H] zeros, B taken from `x` by operations, not as a number (see `positions`).
        let state = x
            .narrow(1, 0, 1)
            .narrow(2, 0, 1)
            .zeros_like()
            .transpose(0, 1)
            .repeat([1, 1, self.config.hidden_size]);
        let (out, _, _) = x.lstm(
            &[&state, &state],
            &weights,
            true,
            1,
            0.0,
            train,
            false,
            true,
        );
        out
    }
}

/// The two directions, in `nn.LSTM`'s weight order.
#[derive(Clone, Copy)]
enum Direction {
    Forward = 0,
    Backward = 1,
}

/// `x` `[B, T, F]` with row b's position t taken from position `order[b, t]`.
fn reorder(x: &Tensor, order: &Tensor) -> Tensor {
    let features = x.size()[2];
    x.gather(
        1,
        &order.unsqueeze(-1).expand([-1, -1, features], false),
        false,
    )
}
