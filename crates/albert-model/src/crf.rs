//! Linear-chain CRF (pytorch-crf layout).
//!
//! The model is the same as `torchcrf.CRF(num_tags, batch_first=True)` (pytorch-crf 0.7.2), so that
//! checkpoints trained by the Python reference load unchanged (`crf.start_transitions`,
//! `crf.end_transitions`, `crf.transitions`, with `transitions[i][j]` scoring tag i followed by tag j)
//! and scores agree to float rounding. The fixtures under `fixtures/crf/` are produced by pytorch-crf
//! itself and pin that claim down in the tests.
//!
//! What differs is how the work is laid out. Both the forward algorithm and Viterbi run as one loop over
//! the sequence of batched `[B, K, K]` operations, and ragged batches are handled without a per-step
//! `where`: before the loop, every padded position's step matrix is replaced by an exact carry-over
//! (0 on the diagonal, [`FORBIDDEN`] elsewhere), so each row's state at the last padded position *is* its
//! state at its last real token. The end transition added after the loop therefore lands on each row's
//! own last token, whatever the row's length.

use tch::{nn, Device, Kind, Tensor};

/// Score of a transition that must not be taken.
///
/// Finite rather than `-inf`: Viterbi and the forward algorithm only add and take maxima/log-sum-exps,
/// and a finite value can never meet `+inf` or another `-inf` in a subtraction, so it cannot produce
/// NaN. At `-1e30` no sum of real scores comes near it, and even a sequence of a few thousand forbidden
/// steps stays far inside the f32 range.
const FORBIDDEN: f64 = -1e30;

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
        -self
            .log_likelihood(emissions, tags, mask)
            .mean(Kind::Float)
    }

    /// The most likely tag sequence of each row (Viterbi), of length `mask[b].sum()`.
    ///
    /// Runs on the emissions' device, in float32, without autograd. The backpointers stay on the device
    /// until the end and come back, with the row lengths and the best last tags, in a single
    /// device→host copy; the backtracking itself is a few thousand integer look-ups on the host, which is
    /// cheaper than one device launch per position (see `examples/crf_bench.rs`).
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
        self.check_shapes(emissions, mask);
        tch::no_grad(|| {
            let (batch, seq_len, num_tags) = emissions.size3().expect("checked above");
            let device = emissions.device();
            let emissions = emissions.to_kind(Kind::Float);
            let mask = as_bool(mask);
            let (start, end, transitions) = self.constrained_tables(constraints, device);

            // [L, B, K]: position-major, so that each step reads one contiguous slab.
            let emissions = emissions.transpose(0, 1);
            let mut score = start.unsqueeze(0) + emissions.get(0);
            let mut parts = Vec::with_capacity(seq_len as usize + 1);
            parts.push(mask.sum_dim_intlist(1, false, Kind::Int64));
            if seq_len > 1 {
                let steps = step_scores(
                    &transitions,
                    &emissions.narrow(0, 1, seq_len - 1),
                    &mask.transpose(0, 1).narrow(0, 1, seq_len - 1),
                );
                let mut backpointers = Vec::with_capacity(seq_len as usize - 1);
                for step in steps.unbind(0) {
                    let (best, from) = (score.unsqueeze(2) + step).max_dim(1, false);
                    score = best;
                    backpointers.push(from.view([-1]));
                }
                parts.push((score + end.unsqueeze(0)).argmax(1, false));
                parts.extend(backpointers);
            } else {
                parts.push((score + end.unsqueeze(0)).argmax(1, false));
            }
            let host = Vec::<i64>::try_from(&Tensor::cat(&parts, 0))
                .expect("an i64 vector always converts");
            backtrack(&host, batch as usize, seq_len as usize, num_tags as usize)
        })
    }

    /// TEMPORARY (measurement only): Viterbi with the backtracking done on the device by `gather`.
    #[doc(hidden)]
    pub fn decode_device_backtrack(&self, emissions: &Tensor, mask: &Tensor) -> Vec<Vec<i64>> {
        self.check_shapes(emissions, mask);
        tch::no_grad(|| {
            let (batch, seq_len, _) = emissions.size3().expect("checked above");
            let device = emissions.device();
            let emissions = emissions.to_kind(Kind::Float);
            let mask = as_bool(mask);
            let (start, end, transitions) = self.constrained_tables(None, device);
            let emissions = emissions.transpose(0, 1);
            let mut score = start.unsqueeze(0) + emissions.get(0);
            let mut backpointers = Vec::new();
            if seq_len > 1 {
                let steps = step_scores(
                    &transitions,
                    &emissions.narrow(0, 1, seq_len - 1),
                    &mask.transpose(0, 1).narrow(0, 1, seq_len - 1),
                );
                for step in steps.unbind(0) {
                    let (best, from) = (score.unsqueeze(2) + step).max_dim(1, false);
                    score = best;
                    backpointers.push(from);
                }
            }
            let mut tag = (score + end.unsqueeze(0)).argmax(1, true);
            let mut columns = vec![tag.shallow_clone()];
            for from in backpointers.iter().rev() {
                tag = from.gather(1, &tag, false);
                columns.push(tag.shallow_clone());
            }
            columns.push(mask.sum_dim_intlist(1, true, Kind::Int64));
            columns.reverse();
            let host = Vec::<i64>::try_from(&Tensor::cat(&columns, 1).view([-1])).unwrap();
            let width = seq_len as usize + 1;
            (0..batch as usize)
                .map(|row| {
                    let r = &host[row * width..(row + 1) * width];
                    r[1..1 + r[0] as usize].to_vec()
                })
                .collect()
        })
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

        let emitted = emissions.gather(2, &tags.unsqueeze(2), false).squeeze_dim(2);
        let mut score = (emitted * &maskf).sum_dim_intlist(1, false, Kind::Float)
            + start.index_select(0, &tags.select(1, 0));
        if seq_len > 1 {
            let pairs = tags.narrow(1, 0, seq_len - 1) * self.num_tags + tags.narrow(1, 1, seq_len - 1);
            let moved = transitions
                .view([-1])
                .index_select(0, &pairs.view([-1]))
                .view([batch, seq_len - 1]);
            score = score + (moved * maskf.narrow(1, 1, seq_len - 1)).sum_dim_intlist(1, false, Kind::Float);
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

fn as_bool(mask: &Tensor) -> Tensor {
    if mask.kind() == Kind::Bool {
        mask.shallow_clone()
    } else {
        mask.ne(0)
    }
}

/// Follows the backpointers on the host. `host` is `[lengths (B), best last tags (B), backpointers
/// ((L - 1) × B × K)]`, where the backpointer at step `t` (position `t + 1`) for row b and tag j is the
/// best previous tag.
fn backtrack(host: &[i64], batch: usize, seq_len: usize, num_tags: usize) -> Vec<Vec<i64>> {
    let (lengths, rest) = host.split_at(batch);
    let (last, backpointers) = rest.split_at(batch);
    debug_assert_eq!(backpointers.len(), (seq_len - 1) * batch * num_tags);
    (0..batch)
        .map(|row| {
            let len = lengths[row] as usize;
            assert!(
                (1..=seq_len).contains(&len),
                "CRF mask row {row} has {len} real positions; every row needs mask[:, 0] true"
            );
            let mut path = vec![0i64; len];
            path[len - 1] = last[row];
            for pos in (1..len).rev() {
                let at = ((pos - 1) * batch + row) * num_tags + path[pos] as usize;
                path[pos - 1] = backpointers[at];
            }
            path
        })
        .collect()
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
