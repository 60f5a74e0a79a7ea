//! Linear-chain CRF (pytorch-crf layout).
//!
//! The model is the same as `torchcrf.CRF(num_tags, batch_first=True)` (pytorch-crf 0.7.2), so that
//! checkpoints trained by the Python reference load unchanged (`crf.start_transitions`,
//! `crf.end_transitions`, `crf.transitions`, with `transitions[i][j]` scoring tag i followed by tag j)
//! and scores agree to float rounding. The fixtures under `fixtures/crf/` are produced by pytorch-crf
//! itself and pin that claim down in the tests.
//!
//! What differs is how the work is laid out. The forward algorithm (and Viterbi off the CPU) runs as one
//! loop over the sequence of batched `[B, K, K]` operations, and ragged batches are handled without a
//! per-step `where`: before the loop, every padded position's step matrix is replaced by an exact
//! carry-over (0 on the diagonal, [`FORBIDDEN`] elsewhere), so each row's state at the last padded
//! position *is* its state at its last real token. The end transition added after the loop therefore
//! lands on each row's own last token, whatever the row's length. On CPU, Viterbi is a plain loop over
//! host memory instead (see [`ViterbiBackend`]); no gradient flows through decoding, so nothing is lost.

use tch::{nn, Device, Kind, Tensor};

use crate::params::{ParamGroup, Part};

/// Score of a transition that must not be taken.
///
/// Finite rather than `-inf`: Viterbi and the forward algorithm only add and take maxima/log-sum-exps,
/// and a finite value can never meet `+inf` or another `-inf` in a subtraction, so it cannot produce
/// NaN. At `-1e30` no sum of real scores comes near it, and even a sequence of a few thousand forbidden
/// steps stays far inside the f32 range.
pub const FORBIDDEN: f64 = -1e30;

/// Which implementation of Viterbi ([`Crf::decode_with`]) and of the marginals ([`Crf::marginals_with`])
/// runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViterbiBackend {
    /// [`ViterbiBackend::Host`] for CPU emissions, [`ViterbiBackend::TensorOps`] for any other device.
    #[default]
    Auto,
    /// Batched `[B, K, K]` tensor operations, one add and one max per position, on the emissions'
    /// device: what a GPU wants, since the emissions never leave it and only the backpointers come back.
    TensorOps,
    /// Plain loops over host memory, after copying the emissions there: far fewer instructions than the
    /// tensor version's per-operation dispatch on CPU.
    Host,
}

/// A linear-chain conditional random field over `num_tags` tags.
///
/// Holds the three transition tables as variables of the caller's `VarStore`, so they are trained,
/// saved and loaded with the rest of the model under the path the caller chose (`root / "crf"`).
#[derive(Debug)]
pub struct Crf {
    num_tags: i64,
    start_transitions: Tensor,
    end_transitions: Tensor,
    transitions: Tensor,
}

impl Crf {
    /// Creates the variables `start_transitions` `[K]`, `end_transitions` `[K]` and `transitions`
    /// `[K, K]` under `path`, drawn from uniform(-0.1, 0.1) like pytorch-crf's `reset_parameters`, so a
    /// freshly initialised model starts from the same distribution as the reference.
    ///
    /// # Panics
    /// If `num_tags` is not positive.
    pub fn new(path: &nn::Path, num_tags: i64) -> Self {
        assert!(num_tags > 0, "a CRF needs at least one tag, got {num_tags}");
        let init = nn::Init::Uniform { lo: -0.1, up: 0.1 };
        // The CRF is always part of the head; its tables are scores, decayed like the classifier weight.
        let path = path.set_group(ParamGroup::new(Part::Head, true).index());
        Self {
            num_tags,
            start_transitions: path.var("start_transitions", &[num_tags], init),
            end_transitions: path.var("end_transitions", &[num_tags], init),
            transitions: path.var("transitions", &[num_tags, num_tags], init),
        }
    }

    /// The number of tags K, which every emissions tensor's last dimension must equal.
    pub fn num_tags(&self) -> i64 {
        self.num_tags
    }

    /// Score of starting a sequence with each tag, `[K]`.
    pub fn start_transitions(&self) -> &Tensor {
        &self.start_transitions
    }

    /// Score of ending a sequence with each tag, `[K]`.
    pub fn end_transitions(&self) -> &Tensor {
        &self.end_transitions
    }

    /// Score of tag i followed by tag j at `[i, j]`, `[K, K]`.
    pub fn transitions(&self) -> &Tensor {
        &self.transitions
    }

    /// Per-sequence log-likelihood `log p(tags | emissions)`, `[B]` float32.
    ///
    /// Always computed in float32, whatever the emissions' dtype: the normaliser is a log-sum-exp over
    /// `K^L` paths and loses too much in bf16/fp16. Gradients flow back into `emissions` (through the
    /// cast) and into the three transition tables. Tags at padded positions are ignored and may hold
    /// anything (for example -100).
    ///
    /// `emissions` is `[B, L, K]`; `tags` `[B, L]` integer; `mask` `[B, L]` (bool or 0/1 integers),
    /// left-aligned — each row is trues then falses — with `mask[:, 0]` all true. The mask is not read
    /// back to the host to check that, so the call never synchronises with the device.
    ///
    /// # Panics
    /// If the shapes disagree with each other or with [`Crf::num_tags`].
    pub fn log_likelihood(&self, emissions: &Tensor, tags: &Tensor, mask: &Tensor) -> Tensor {
        self.check_shapes(emissions, mask);
        assert_eq!(
            tags.size(),
            mask.size(),
            "CRF tags must have the mask's shape [B, L]"
        );
        let emissions = emissions.to_kind(Kind::Float);
        let mask = as_bool(mask);
        let tags = tags
            .to_kind(Kind::Int64)
            .masked_fill(&mask.logical_not(), 0);
        self.path_score(&emissions, &tags, &mask) - self.log_partition(&emissions, &mask)
    }

    /// The training loss: mean over the batch of the negative log-likelihood (pytorch-crf's
    /// `-crf(emissions, tags, mask, reduction="mean")`), a float32 scalar.
    ///
    /// # Panics
    /// As [`Crf::log_likelihood`].
    pub fn nll(&self, emissions: &Tensor, tags: &Tensor, mask: &Tensor) -> Tensor {
        -self.log_likelihood(emissions, tags, mask).mean(Kind::Float)
    }

    /// Each unit's probability of each tag under the model, `p(y_l = k | x)`, `[B, L, K]` float32 (0 at
    /// masked positions): the confidence behind a decoded tag. Shapes and mask as
    /// [`Crf::log_likelihood`]; the implementation as [`ViterbiBackend::Auto`] chooses.
    pub fn marginals(&self, emissions: &Tensor, mask: &Tensor) -> Tensor {
        self.marginals_with(emissions, mask, ViterbiBackend::Auto)
    }

    /// [`Crf::marginals`] by the implementation the caller chooses. `TensorOps`: the gradient of `log Z`
    /// with respect to the emissions, through autograd (enabled here even under `no_grad`), so the
    /// marginals come from the very forward algorithm the loss uses; `Host`: the forward-backward
    /// recursions in f64 loops over host memory, which on a CPU cost a fraction of the tensor version's
    /// per-operation dispatch. Both agree to float rounding.
    pub fn marginals_with(
        &self,
        emissions: &Tensor,
        mask: &Tensor,
        backend: ViterbiBackend,
    ) -> Tensor {
        self.check_shapes(emissions, mask);
        let mask = as_bool(mask);
        let on_host = match backend {
            ViterbiBackend::Auto => emissions.device() == Device::Cpu,
            ViterbiBackend::Host => true,
            ViterbiBackend::TensorOps => false,
        };
        if on_host {
            return tch::no_grad(|| self.marginals_host(emissions, &mask));
        }
        tch::with_grad(|| {
            let emissions = emissions
                .detach()
                .to_kind(Kind::Float)
                .set_requires_grad(true);
            let log_z = self.log_partition(&emissions, &mask).sum(Kind::Float);
            let grads = Tensor::run_backward(&[log_z], &[&emissions], false, false);
            grads[0].detach() * mask.unsqueeze(-1).to_kind(Kind::Float)
        })
    }

    /// The most likely tag sequence of each row (Viterbi), of length `mask[b].sum()`.
    ///
    /// Computed in float32 without autograd, with [`ViterbiBackend::Auto`]: a plain loop for CPU
    /// emissions, batched tensor operations on the emissions' device otherwise.
    ///
    /// With `constraints`, forbidden transitions score [`FORBIDDEN`], so they are taken only if every
    /// path of the row needs one.
    ///
    /// # Panics
    /// If the shapes disagree, if `constraints` were built for a different number of tags, or if a row
    /// of the mask is empty (`mask[:, 0]` must be all true).
    pub fn decode(
        &self,
        emissions: &Tensor,
        mask: &Tensor,
        constraints: Option<&TransitionConstraints>,
    ) -> Vec<Vec<i64>> {
        self.decode_with(emissions, mask, constraints, ViterbiBackend::Auto)
    }

    /// [`Crf::decode`] with the implementation chosen by the caller, for benchmarks and for checking
    /// the two implementations against each other. Both give the same paths up to float rounding in
    /// near-ties.
    ///
    /// # Panics
    /// As [`Crf::decode`].
    pub fn decode_with(
        &self,
        emissions: &Tensor,
        mask: &Tensor,
        constraints: Option<&TransitionConstraints>,
        backend: ViterbiBackend,
    ) -> Vec<Vec<i64>> {
        self.check_shapes(emissions, mask);
        let on_host = match backend {
            ViterbiBackend::Auto => emissions.device() == Device::Cpu,
            ViterbiBackend::TensorOps => false,
            ViterbiBackend::Host => true,
        };
        tch::no_grad(|| {
            if on_host {
                self.viterbi_host(emissions, mask, constraints)
            } else {
                self.viterbi_tensor_ops(emissions, mask, constraints)
            }
        })
    }

    /// Viterbi as one `[B, K, K]` add and max per position on the emissions' device. The backpointers
    /// stay there until the end and come back, with the row lengths and the best last tags, in a single
    /// device→host copy; following them is a few thousand integer look-ups on the host. Backtracking
    /// with `gather` on the device instead costs one launch per position and measured no faster on CPU
    /// (B=64, L=126, K=7), and launches are what a GPU pays for most at these sizes.
    fn viterbi_tensor_ops(
        &self,
        emissions: &Tensor,
        mask: &Tensor,
        constraints: Option<&TransitionConstraints>,
    ) -> Vec<Vec<i64>> {
        let (batch, seq_len, num_tags) = emissions.size3().expect("checked by the caller");
        let device = emissions.device();
        let emissions = emissions.to_kind(Kind::Float);
        let mask = as_bool(mask);
        let (start, end, transitions) = self.constrained_tables(constraints, device);

        // [L, B, K]: position-major, so that each step reads one contiguous slab.
        let emissions = emissions.transpose(0, 1);
        let mut score = start.unsqueeze(0) + emissions.get(0);
        let mut parts = Vec::with_capacity(seq_len as usize + 1);
        parts.push(mask.sum_dim_intlist(1, false, Kind::Int64));
        let mut backpointers = Vec::with_capacity(seq_len as usize - 1);
        if seq_len > 1 {
            let steps = step_scores(
                &transitions,
                &emissions.narrow(0, 1, seq_len - 1),
                &mask.transpose(0, 1).narrow(0, 1, seq_len - 1),
            );
            for step in steps.unbind(0) {
                let (best, from) = (score.unsqueeze(2) + step).max_dim(1, false);
                score = best;
                backpointers.push(from.view([-1]));
            }
        }
        parts.push((score + end.unsqueeze(0)).argmax(1, false));
        parts.extend(backpointers);
        let host = Vec::<i64>::try_from(&Tensor::cat(&parts, 0)).expect("an i64 vector converts");
        let (lengths, rest) = host.split_at(batch as usize);
        let (last, backpointers) = rest.split_at(batch as usize);
        let (batch, num_tags) = (batch as usize, num_tags as usize);
        (0..batch)
            .map(|row| {
                let len = checked_length(lengths[row], row, seq_len);
                let mut path = vec![0i64; len];
                path[len - 1] = last[row];
                for pos in (1..len).rev() {
                    // Backpointers are [L - 1, B, K]: entry (pos - 1, row, tag) is the best tag at pos - 1.
                    let at = ((pos - 1) * batch + row) * num_tags + path[pos] as usize;
                    path[pos - 1] = backpointers[at];
                }
                path
            })
            .collect()
    }

    /// Viterbi as plain loops over host memory. For CPU tensors this is what to use: B·L·K² ≈ 0.4 M
    /// add-compares for B=64, L=126, K=7 take well under a millisecond, while the tensor version pays
    /// several microseconds of dispatch for each of its ~2·L operations. Same order of additions as
    /// pytorch-crf (`(score + transition) + emission`), first maximum on ties.
    /// Forward-backward per row in f64 on the host; `[B, L, K]` float32 on the emissions' device.
    fn marginals_host(&self, emissions: &Tensor, mask: &Tensor) -> Tensor {
        let (batch, seq_len, num_tags) = emissions.size3().expect("checked by the caller");
        let to_host = |t: &Tensor| {
            Vec::<f64>::try_from(&t.to_kind(Kind::Double).contiguous().view([-1]))
                .expect("a float vector converts")
        };
        let (start, end) = (
            to_host(&self.start_transitions),
            to_host(&self.end_transitions),
        );
        let transitions = to_host(&self.transitions);
        let host = to_host(emissions);
        let lengths = Vec::<i64>::try_from(&mask.sum_dim_intlist(1, false, Kind::Int64))
            .expect("an i64 vector converts");
        let k = num_tags as usize;
        let row_stride = seq_len as usize * k;
        let mut out = vec![0f32; batch as usize * row_stride];
        let (mut alpha, mut beta) = (Vec::new(), Vec::new());
        for row in 0..batch as usize {
            let len = checked_length(lengths[row], row, seq_len);
            let em = &host[row * row_stride..row * row_stride + len * k];
            alpha.clear();
            alpha.resize(len * k, 0f64);
            beta.clear();
            beta.resize(len * k, 0f64);
            for tag in 0..k {
                alpha[tag] = start[tag] + em[tag];
                beta[(len - 1) * k + tag] = end[tag];
            }
            for pos in 1..len {
                for to in 0..k {
                    let terms =
                        (0..k).map(|from| alpha[(pos - 1) * k + from] + transitions[from * k + to]);
                    alpha[pos * k + to] = log_sum_exp(terms) + em[pos * k + to];
                }
            }
            for pos in (0..len.saturating_sub(1)).rev() {
                for from in 0..k {
                    let terms = (0..k).map(|to| {
                        transitions[from * k + to]
                            + em[(pos + 1) * k + to]
                            + beta[(pos + 1) * k + to]
                    });
                    beta[pos * k + from] = log_sum_exp(terms);
                }
            }
            let log_z = log_sum_exp((0..k).map(|tag| alpha[(len - 1) * k + tag] + end[tag]));
            let dst = &mut out[row * row_stride..row * row_stride + len * k];
            for (i, p) in dst.iter_mut().enumerate() {
                *p = (alpha[i] + beta[i] - log_z).exp() as f32;
            }
        }
        Tensor::from_slice(&out)
            .view([batch, seq_len, num_tags])
            .to_device(emissions.device())
    }

    fn viterbi_host(
        &self,
        emissions: &Tensor,
        mask: &Tensor,
        constraints: Option<&TransitionConstraints>,
    ) -> Vec<Vec<i64>> {
        let (batch, seq_len, num_tags) = emissions.size3().expect("checked by the caller");
        let to_host = |t: &Tensor| {
            Vec::<f32>::try_from(&t.to_kind(Kind::Float).contiguous().view([-1]))
                .expect("a float vector converts")
        };
        let (start, end, transitions) = self.constrained_tables(constraints, emissions.device());
        let (start, end, transitions) = (to_host(&start), to_host(&end), to_host(&transitions));
        let emissions = to_host(emissions);
        let lengths = Vec::<i64>::try_from(&as_bool(mask).sum_dim_intlist(1, false, Kind::Int64))
            .expect("an i64 vector converts");

        let k = num_tags as usize;
        let row_stride = seq_len as usize * k;
        let mut score = vec![0f32; k];
        let mut next = vec![0f32; k];
        let mut backpointers: Vec<u32> = Vec::new();
        (0..batch as usize)
            .map(|row| {
                let len = checked_length(lengths[row], row, seq_len);
                let em = &emissions[row * row_stride..row * row_stride + len * k];
                for (tag, s) in score.iter_mut().enumerate() {
                    *s = start[tag] + em[tag];
                }
                backpointers.clear();
                backpointers.resize(len * k, 0);
                for pos in 1..len {
                    for to in 0..k {
                        let mut best = score[0] + transitions[to];
                        let mut from_best = 0u32;
                        for (from, &s) in score.iter().enumerate().skip(1) {
                            let candidate = s + transitions[from * k + to];
                            if candidate > best {
                                best = candidate;
                                from_best = from as u32;
                            }
                        }
                        next[to] = best + em[pos * k + to];
                        backpointers[pos * k + to] = from_best;
                    }
                    std::mem::swap(&mut score, &mut next);
                }
                let mut tag = 0usize;
                for candidate in 1..k {
                    if score[candidate] + end[candidate] > score[tag] + end[tag] {
                        tag = candidate;
                    }
                }
                let mut path = vec![0i64; len];
                for pos in (0..len).rev() {
                    path[pos] = tag as i64;
                    tag = backpointers[pos * k + tag] as usize;
                }
                path
            })
            .collect()
    }

    fn check_shapes(&self, emissions: &Tensor, mask: &Tensor) {
        let size = emissions.size();
        assert!(
            size.len() == 3 && size[2] == self.num_tags && size[1] > 0,
            "CRF emissions must be [B, L, {}] with L > 0, got {size:?}",
            self.num_tags
        );
        assert_eq!(
            mask.size(),
            &size[..2],
            "CRF mask must be [B, L] matching emissions {size:?}"
        );
    }

    /// The transition tables in float32 on `device`, with `constraints` applied.
    fn constrained_tables(
        &self,
        constraints: Option<&TransitionConstraints>,
        device: Device,
    ) -> (Tensor, Tensor, Tensor) {
        let prepare = |t: &Tensor| t.to_device(device).to_kind(Kind::Float);
        let (start, end, transitions) = (
            prepare(&self.start_transitions),
            prepare(&self.end_transitions),
            prepare(&self.transitions),
        );
        let Some(c) = constraints else {
            return (start, end, transitions);
        };
        assert_eq!(
            c.num_tags as i64, self.num_tags,
            "transition constraints were built for {} tags, the CRF has {}",
            c.num_tags, self.num_tags
        );
        let forbidden = |allowed: &[bool], shape: &[i64]| {
            Tensor::from_slice(allowed)
                .view(shape)
                .to_device(device)
                .logical_not()
        };
        let k = self.num_tags;
        (
            start.masked_fill(&forbidden(&c.start_allowed, &[k]), FORBIDDEN),
            end.masked_fill(&forbidden(&c.end_allowed, &[k]), FORBIDDEN),
            transitions.masked_fill(&forbidden(&c.allowed, &[k, k]), FORBIDDEN),
        )
    }

    /// Score of the given tag path per row, `[B]`: start + emissions + transitions + end, all gathered
    /// at once rather than position by position.
    fn path_score(&self, emissions: &Tensor, tags: &Tensor, mask: &Tensor) -> Tensor {
        let (batch, seq_len) = tags.size2().expect("checked by the caller");
        let start = self.start_transitions.to_kind(Kind::Float);
        let end = self.end_transitions.to_kind(Kind::Float);
        let transitions = self.transitions.to_kind(Kind::Float);
        let maskf = mask.to_kind(Kind::Float);

        let emitted = emissions
            .gather(2, &tags.unsqueeze(2), false)
            .squeeze_dim(2);
        let mut score = (emitted * &maskf).sum_dim_intlist(1, false, Kind::Float)
            + start.index_select(0, &tags.select(1, 0));
        if seq_len > 1 {
            let pairs =
                tags.narrow(1, 0, seq_len - 1) * self.num_tags + tags.narrow(1, 1, seq_len - 1);
            let moved = transitions
                .view([-1])
                .index_select(0, &pairs.view([-1]))
                .view([batch, seq_len - 1]);
            score +=
                (moved * maskf.narrow(1, 1, seq_len - 1)).sum_dim_intlist(1, false, Kind::Float);
        }
        let last = mask.sum_dim_intlist(1, true, Kind::Int64) - 1;
        let last_tags = tags.gather(1, &last, false).squeeze_dim(1);
        score + end.index_select(0, &last_tags)
    }

    /// Log of the partition function per row, `[B]` (the forward algorithm).
    fn log_partition(&self, emissions: &Tensor, mask: &Tensor) -> Tensor {
        let seq_len = emissions.size()[1];
        let start = self.start_transitions.to_kind(Kind::Float);
        let end = self.end_transitions.to_kind(Kind::Float);
        let emissions = emissions.transpose(0, 1);
        let mut alpha = start.unsqueeze(0) + emissions.get(0);
        if seq_len > 1 {
            let steps = step_scores(
                &self.transitions.to_kind(Kind::Float),
                &emissions.narrow(0, 1, seq_len - 1),
                &mask.transpose(0, 1).narrow(0, 1, seq_len - 1),
            );
            // `unbind` rather than `get(t)`: one backward node for all steps instead of one full-size
            // zero gradient per step, which would make the backward pass quadratic in L.
            for step in steps.unbind(0) {
                alpha = (alpha.unsqueeze(2) + step).logsumexp([1], false);
            }
        }
        (alpha + end.unsqueeze(0)).logsumexp([1], false)
    }
}

/// The per-step score matrices `[T, B, K, K]` for emissions `[T, B, K]` and mask `[T, B]`: entry
/// `[t, b, i, j]` is `transitions[i][j] + emissions[t, b, j]` at real positions and an exact carry-over
/// (0 if `i == j`, else [`FORBIDDEN`]) at padded ones.
fn step_scores(transitions: &Tensor, emissions: &Tensor, mask: &Tensor) -> Tensor {
    let num_tags = transitions.size()[0];
    let real = transitions.view([1, 1, num_tags, num_tags]) + emissions.unsqueeze(2);
    let carry = (Tensor::eye(num_tags, (Kind::Float, transitions.device())) - 1.0) * -FORBIDDEN;
    real.where_self(&mask.unsqueeze(-1).unsqueeze(-1), &carry)
}

/// `log Σ exp(x)` of finite values, stable for large magnitudes.
fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

fn as_bool(mask: &Tensor) -> Tensor {
    if mask.kind() == Kind::Bool {
        mask.shallow_clone()
    } else {
        mask.ne(0)
    }
}

/// Row `row`'s length from the mask, checked: a row with no real position has no path, and pytorch-crf
/// refuses such masks too.
fn checked_length(length: i64, row: usize, seq_len: i64) -> usize {
    assert!(
        (1..=seq_len).contains(&length),
        "CRF mask row {row} has {length} real positions; every row needs mask[:, 0] true"
    );
    length as usize
}

/// Transitions that decoding must not produce, for label schemes whose grammar the CRF is not guaranteed
/// to have learnt (an undertrained model can emit `O → I-PER`, which no entity reading accepts).
///
/// Only [`Crf::decode`] applies them; training is unconstrained, as in pytorch-crf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionConstraints {
    num_tags: usize,
    start_allowed: Vec<bool>,
    end_allowed: Vec<bool>,
    /// Row-major `[from][to]`.
    allowed: Vec<bool>,
}

impl TransitionConstraints {
    /// BIO grammar over `labels` (index = tag id): `I-X` may only follow `B-X` or `I-X`, and may not
    /// start a sequence. For labels made of `O`, `B-*` and `I-*` that forbids exactly start→I-X, O→I-X,
    /// B-X→I-Y and I-X→I-Y for Y≠X. Any other label (say `X` or `[PAD]`) is unconstrained itself but, not
    /// being part of an entity, may not be followed by `I-X` either.
    pub fn bio(labels: &[String]) -> Self {
        let num_tags = labels.len();
        let inside_of = |label: &str| label.strip_prefix("I-").map(str::to_owned);
        let begin_of = |label: &str| label.strip_prefix("B-").map(str::to_owned);
        let mut constraints = Self::unconstrained(num_tags);
        for (to, to_label) in labels.iter().enumerate() {
            let Some(entity) = inside_of(to_label) else {
                continue;
            };
            constraints.start_allowed[to] = false;
            for (from, from_label) in labels.iter().enumerate() {
                let continues = begin_of(from_label).as_deref() == Some(entity.as_str())
                    || inside_of(from_label).as_deref() == Some(entity.as_str());
                constraints.allowed[from * num_tags + to] = continues;
            }
        }
        constraints
    }

    fn unconstrained(num_tags: usize) -> Self {
        Self {
            num_tags,
            start_allowed: vec![true; num_tags],
            end_allowed: vec![true; num_tags],
            allowed: vec![true; num_tags * num_tags],
        }
    }

    /// The number of tags these constraints were built for.
    pub fn num_tags(&self) -> i64 {
        self.num_tags as i64
    }

    /// Whether tag `to` may directly follow tag `from`.
    pub fn allows(&self, from: usize, to: usize) -> bool {
        self.allowed[from * self.num_tags + to]
    }

    /// Whether a sequence may start with `tag`.
    pub fn allows_start(&self, tag: usize) -> bool {
        self.start_allowed[tag]
    }

    /// Whether a sequence may end with `tag`.
    pub fn allows_end(&self, tag: usize) -> bool {
        self.end_allowed[tag]
    }

    /// Whether a whole decoded path obeys the constraints, so callers and tests can check output without
    /// re-deriving the grammar. An empty path is valid; a tag outside `0..num_tags` is not.
    pub fn allows_path(&self, path: &[i64]) -> bool {
        let tag = |t: i64| usize::try_from(t).ok().filter(|&t| t < self.num_tags);
        let Some(tags) = path.iter().map(|&t| tag(t)).collect::<Option<Vec<_>>>() else {
            return false;
        };
        let (Some(&first), Some(&last)) = (tags.first(), tags.last()) else {
            return true;
        };
        self.allows_start(first)
            && self.allows_end(last)
            && tags.windows(2).all(|w| self.allows(w[0], w[1]))
    }
}
