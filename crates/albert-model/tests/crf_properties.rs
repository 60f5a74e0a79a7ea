//! Properties of the CRF that hold for any parameters: Viterbi finds the best path and the
//! log-likelihood is a proper log-probability (checked by enumerating every path of tiny problems, with
//! the rows of different lengths sharing one padded batch), BIO constraints hold on decoded output, and
//! the variables are laid out and initialised as pytorch-crf's.

use albert_model::{Crf, TransitionConstraints, ViterbiBackend};

const BACKENDS: [ViterbiBackend; 2] = [ViterbiBackend::Host, ViterbiBackend::TensorOps];
use tch::{nn, Device, Kind, Tensor};

/// Parameters and emissions read back to the host in f64, for the brute-force reference.
struct HostCrf {
    k: usize,
    start: Vec<f64>,
    end: Vec<f64>,
    transitions: Vec<f64>,
}

impl HostCrf {
    fn of(crf: &Crf) -> Self {
        let host = |t: &Tensor| Vec::<f64>::try_from(&t.to_kind(Kind::Double).view([-1])).unwrap();
        Self {
            k: crf.num_tags() as usize,
            start: host(crf.start_transitions()),
            end: host(crf.end_transitions()),
            transitions: host(crf.transitions()),
        }
    }

    /// `emissions` is `[len][k]`.
    fn score(&self, emissions: &[Vec<f64>], path: &[usize]) -> f64 {
        let mut s = self.start[path[0]] + self.end[path[path.len() - 1]];
        for (pos, &tag) in path.iter().enumerate() {
            s += emissions[pos][tag];
            if pos > 0 {
                s += self.transitions[path[pos - 1] * self.k + tag];
            }
        }
        s
    }

    fn all_paths(&self, len: usize) -> Vec<Vec<usize>> {
        (0..self.k.pow(len as u32))
            .map(|mut code| {
                (0..len)
                    .map(|_| {
                        let tag = code % self.k;
                        code /= self.k;
                        tag
                    })
                    .collect()
            })
            .collect()
    }
}

/// A CRF whose parameters are redrawn at a larger scale than the ±0.1 initialisation, so transitions
/// matter as much as emissions.
fn random_crf(vs: &nn::VarStore, num_tags: i64) -> Crf {
    let crf = Crf::new(&(vs.root() / "crf"), num_tags);
    tch::no_grad(|| {
        for var in [
            crf.start_transitions(),
            crf.end_transitions(),
            crf.transitions(),
        ] {
            let mut var = var.shallow_clone();
            var.copy_(&(Tensor::randn_like(&var) * 1.5));
        }
    });
    crf
}

fn ragged_mask(lengths: &[i64], seq_len: i64) -> Tensor {
    Tensor::arange(seq_len, (Kind::Int64, Device::Cpu))
        .unsqueeze(0)
        .lt_tensor(&Tensor::from_slice(lengths).unsqueeze(1))
}

fn row_emissions(emissions: &Tensor, row: i64, len: i64) -> Vec<Vec<f64>> {
    let e = emissions.get(row).narrow(0, 0, len).to_kind(Kind::Double);
    Vec::<Vec<f64>>::try_from(&e).unwrap()
}

#[test]
fn viterbi_likelihood_and_marginals_agree_with_enumeration_of_all_paths() {
    tch::manual_seed(11);
    let num_tags = 3;
    let lengths = [4i64, 1, 3, 2, 4, 1, 2, 3];
    let seq_len = 4;
    for trial in 0..20 {
        let vs = nn::VarStore::new(Device::Cpu);
        let crf = random_crf(&vs, num_tags);
        let host = HostCrf::of(&crf);
        let batch = lengths.len() as i64;
        let emissions = Tensor::randn([batch, seq_len, num_tags], (Kind::Float, Device::Cpu)) * 2.0;
        let mask = ragged_mask(&lengths, seq_len);
        let tags = Tensor::randint(num_tags, [batch, seq_len], (Kind::Int64, Device::Cpu));

        let paths: Vec<_> = BACKENDS
            .iter()
            .map(|&backend| crf.decode_with(&emissions, &mask, None, backend))
            .collect();
        let llh = Vec::<f64>::try_from(
            &crf.log_likelihood(&emissions, &tags, &mask)
                .to_kind(Kind::Double),
        )
        .unwrap();
        let tags = Vec::<Vec<i64>>::try_from(&tags).unwrap();
        // Asked under no_grad, as inference does.
        let marginals: Vec<Vec<Vec<Vec<f64>>>> = BACKENDS
            .iter()
            .map(|&backend| {
                let m = tch::no_grad(|| crf.marginals_with(&emissions, &mask, backend));
                assert!(!m.requires_grad());
                Vec::<Vec<Vec<f64>>>::try_from(&m.to_kind(Kind::Double)).unwrap()
            })
            .collect();

        for (row, &len) in lengths.iter().enumerate() {
            let em = row_emissions(&emissions, row as i64, len);
            let candidates = host.all_paths(len as usize);
            let scores: Vec<f64> = candidates.iter().map(|p| host.score(&em, p)).collect();
            let best = (0..scores.len())
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap();
            let best_path: Vec<i64> = candidates[best].iter().map(|&t| t as i64).collect();
            for (backend, paths) in BACKENDS.iter().zip(&paths) {
                assert_eq!(
                    paths[row], best_path,
                    "{backend:?}: trial {trial}, row {row} (length {len})"
                );
            }

            let max = scores[best];
            let log_z = max + scores.iter().map(|s| (s - max).exp()).sum::<f64>().ln();
            let gold: Vec<usize> = tags[row][..len as usize]
                .iter()
                .map(|&t| t as usize)
                .collect();
            let expected = host.score(&em, &gold) - log_z;
            assert!(
                (llh[row] - expected).abs() < 1e-4,
                "trial {trial}, row {row}: log-likelihood {} vs enumeration {expected}",
                llh[row]
            );

            // p(y_pos = tag): the weight of the paths through it; 0 past the row's end.
            for (backend, marginals) in BACKENDS.iter().zip(&marginals) {
                for (pos, per_tag) in marginals[row].iter().enumerate() {
                    for (tag, &got) in per_tag.iter().enumerate() {
                        let through: f64 = candidates
                            .iter()
                            .zip(&scores)
                            .filter(|(p, _)| p.get(pos) == Some(&tag))
                            .map(|(_, s)| (s - log_z).exp())
                            .sum();
                        assert!(
                            (got - through).abs() < 1e-5,
                            "{backend:?}: trial {trial}, row {row}, position {pos}, tag {tag}: \
                             marginal {got} vs {through}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn decodes_a_batch_of_single_tokens() {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let crf = random_crf(&vs, 5);
    let host = HostCrf::of(&crf);
    let emissions = Tensor::randn([6, 1, 5], (Kind::Float, Device::Cpu));
    let mask = Tensor::ones([6, 1], (Kind::Bool, Device::Cpu));
    for backend in BACKENDS {
        let paths = crf.decode_with(&emissions, &mask, None, backend);
        for (row, path) in paths.iter().enumerate() {
            let em = row_emissions(&emissions, row as i64, 1);
            let best = (0..5)
                .max_by(|&a, &b| host.score(&em, &[a]).total_cmp(&host.score(&em, &[b])))
                .unwrap();
            assert_eq!(path, &vec![best as i64], "{backend:?}");
        }
    }
}

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn bio_forbids_exactly_the_ill_formed_transitions() {
    let names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];
    let c = TransitionConstraints::bio(&labels(&names));
    assert_eq!(c.num_tags(), 5);
    let forbidden: Vec<(&str, &str)> = (0..5)
        .flat_map(|from| (0..5).map(move |to| (from, to)))
        .filter(|&(from, to)| !c.allows(from, to))
        .map(|(from, to)| (names[from], names[to]))
        .collect();
    assert_eq!(
        forbidden,
        [
            ("O", "I-PER"),
            ("O", "I-LOC"),
            ("B-PER", "I-LOC"),
            ("I-PER", "I-LOC"),
            ("B-LOC", "I-PER"),
            ("I-LOC", "I-PER"),
        ]
    );
    let starts: Vec<bool> = (0..5).map(|t| c.allows_start(t)).collect();
    assert_eq!(starts, [true, true, false, true, false]);
    assert!((0..5).all(|t| c.allows_end(t)));

    assert!(c.allows_path(&[0, 1, 2, 2, 0, 3, 4]));
    assert!(!c.allows_path(&[2]));
    assert!(!c.allows_path(&[1, 4]));
    assert!(
        !c.allows_path(&[0, 7]),
        "out-of-range tags are not valid paths"
    );
}

#[test]
fn bio_constraints_hold_on_decoded_paths_where_unconstrained_decoding_breaks_them() {
    tch::manual_seed(5);
    let names = labels(&["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]);
    let constraints = TransitionConstraints::bio(&names);
    let vs = nn::VarStore::new(Device::Cpu);
    let crf = Crf::new(&(vs.root() / "crf"), 7);
    let lengths: Vec<i64> = (0..64).map(|b| 1 + (b * 37) % 40).collect();
    let emissions = Tensor::randn([64, 40, 7], (Kind::Float, Device::Cpu)) * 3.0;
    let mask = ragged_mask(&lengths, 40);

    for backend in BACKENDS {
        let free = crf.decode_with(&emissions, &mask, None, backend);
        let violations = free.iter().filter(|p| !constraints.allows_path(p)).count();
        assert!(
            violations > 0,
            "random emissions should make unconstrained Viterbi produce ill-formed BIO, or this test proves nothing"
        );

        let constrained = crf.decode_with(&emissions, &mask, Some(&constraints), backend);
        for (row, path) in constrained.iter().enumerate() {
            assert_eq!(path.len() as i64, lengths[row]);
            assert!(
                constraints.allows_path(path),
                "{backend:?}: row {row} breaks BIO: {path:?}"
            );
        }
    }
}

#[test]
fn constrained_viterbi_finds_the_best_allowed_path() {
    tch::manual_seed(8);
    let constraints = TransitionConstraints::bio(&labels(&["O", "B-X", "I-X"]));
    let lengths = [4i64, 2, 1, 3];
    for trial in 0..20 {
        let vs = nn::VarStore::new(Device::Cpu);
        let crf = random_crf(&vs, 3);
        let host = HostCrf::of(&crf);
        let emissions = Tensor::randn([4, 4, 3], (Kind::Float, Device::Cpu)) * 2.0;
        for backend in BACKENDS {
            let paths = crf.decode_with(
                &emissions,
                &ragged_mask(&lengths, 4),
                Some(&constraints),
                backend,
            );
            for (row, &len) in lengths.iter().enumerate() {
                let em = row_emissions(&emissions, row as i64, len);
                let best = host
                    .all_paths(len as usize)
                    .into_iter()
                    .map(|p| p.into_iter().map(|t| t as i64).collect::<Vec<_>>())
                    .filter(|p| constraints.allows_path(p))
                    .max_by(|a, b| {
                        let s = |p: &Vec<i64>| {
                            host.score(&em, &p.iter().map(|&t| t as usize).collect::<Vec<_>>())
                        };
                        s(a).total_cmp(&s(b))
                    })
                    .unwrap();
                assert_eq!(paths[row], best, "{backend:?}: trial {trial}, row {row}");
            }
        }
    }
}

#[test]
fn impossible_constraints_still_give_valid_tags_and_no_nan() {
    // Every tag is an inside tag, so no sequence can start legally: decoding must still return in-range
    // tags of the right length rather than garbage or a panic.
    let constraints = TransitionConstraints::bio(&labels(&["I-A", "I-B"]));
    let vs = nn::VarStore::new(Device::Cpu);
    let crf = Crf::new(&(vs.root() / "crf"), 2);
    let emissions = Tensor::randn([3, 5, 2], (Kind::Float, Device::Cpu));
    for backend in BACKENDS {
        let paths = crf.decode_with(
            &emissions,
            &ragged_mask(&[5, 2, 1], 5),
            Some(&constraints),
            backend,
        );
        assert_eq!(paths.iter().map(Vec::len).collect::<Vec<_>>(), [5, 2, 1]);
        assert!(
            paths.iter().flatten().all(|&t| (0..2).contains(&t)),
            "{backend:?}"
        );
    }
}

#[test]
fn variables_are_named_and_initialised_like_pytorch_crf() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let crf = Crf::new(&(vs.root() / "crf"), 13);
    assert_eq!(crf.num_tags(), 13);
    let variables = vs.variables();
    let mut names: Vec<&String> = variables.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "crf.end_transitions",
            "crf.start_transitions",
            "crf.transitions"
        ]
    );
    assert_eq!(variables["crf.transitions"].size(), [13, 13]);
    assert_eq!(variables["crf.start_transitions"].size(), [13]);
    for var in variables.values() {
        assert!(var.requires_grad());
        let (lo, hi) = (var.min().double_value(&[]), var.max().double_value(&[]));
        assert!((-0.1..=0.1).contains(&lo) && (-0.1..=0.1).contains(&hi));
        assert!(
            hi - lo > 0.05,
            "values are spread over the range, not constant"
        );
    }
}

fn decode_with_an_empty_row(backend: ViterbiBackend) {
    let vs = nn::VarStore::new(Device::Cpu);
    let crf = Crf::new(&(vs.root() / "crf"), 3);
    let emissions = Tensor::randn([2, 3, 3], (Kind::Float, Device::Cpu));
    crf.decode_with(&emissions, &ragged_mask(&[3, 0], 3), None, backend);
}

#[test]
#[should_panic(expected = "mask[:, 0]")]
fn host_decode_refuses_an_empty_row() {
    decode_with_an_empty_row(ViterbiBackend::Host);
}

#[test]
#[should_panic(expected = "mask[:, 0]")]
fn tensor_decode_refuses_an_empty_row() {
    decode_with_an_empty_row(ViterbiBackend::TensorOps);
}

#[test]
fn host_and_tensor_viterbi_agree_on_long_ragged_batches() {
    tch::manual_seed(21);
    let names = labels(&["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]);
    let constraints = TransitionConstraints::bio(&names);
    let vs = nn::VarStore::new(Device::Cpu);
    let crf = random_crf(&vs, 7);
    let lengths: Vec<i64> = (0..32).map(|b| 1 + (b * 29) % 126).collect();
    let emissions = Tensor::randn([32, 126, 7], (Kind::Float, Device::Cpu)) * 2.0;
    let mask = ragged_mask(&lengths, 126);
    for constraints in [None, Some(&constraints)] {
        let host = crf.decode_with(&emissions, &mask, constraints, ViterbiBackend::Host);
        let tensor = crf.decode_with(&emissions, &mask, constraints, ViterbiBackend::TensorOps);
        assert_eq!(host, tensor, "constraints: {}", constraints.is_some());
    }
}
