//! The CRF against pytorch-crf itself: fixtures written by `fixtures/crf/make_crf_fixtures.py` from
//! `torchcrf.CRF(K, batch_first=True)` hold its parameters, a ragged batch (one row of length 1) and its
//! log-likelihoods, gradients and Viterbi paths; our `Crf`, given the same parameters, must reproduce them.

use std::collections::HashMap;
use std::path::PathBuf;

use albert_model::{Crf, ViterbiBackend};

const BACKENDS: [ViterbiBackend; 3] = [
    ViterbiBackend::Auto,
    ViterbiBackend::Host,
    ViterbiBackend::TensorOps,
];
use tch::{nn, Device, Kind, Tensor};

const TOLERANCE: f64 = 1e-4;

struct Fixture {
    tensors: HashMap<String, Tensor>,
    paths: Vec<Vec<i64>>,
}

impl Fixture {
    fn load(num_tags: i64) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/crf");
        let tensors = Tensor::read_safetensors(dir.join(format!("crf_k{num_tags}.safetensors")))
            .expect("fixture safetensors readable")
            .into_iter()
            .collect();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("crf_paths.json")).expect("crf_paths.json readable"),
        )
        .expect("crf_paths.json is JSON");
        let paths = serde_json::from_value(json[format!("k{num_tags}")].clone())
            .expect("paths are lists of integers");
        Self { tensors, paths }
    }

    fn get(&self, name: &str) -> &Tensor {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
    }
}

/// A CRF under `crf.` in a fresh VarStore with the fixture's parameters copied into its variables, found
/// by the names the checkpoint layout promises.
fn crf_from(fixture: &Fixture, num_tags: i64) -> (nn::VarStore, Crf) {
    let vs = nn::VarStore::new(Device::Cpu);
    let crf = Crf::new(&(vs.root() / "crf"), num_tags);
    let variables = vs.variables();
    for name in ["start_transitions", "end_transitions", "transitions"] {
        let mut var = variables
            .get(&format!("crf.{name}"))
            .unwrap_or_else(|| panic!("VarStore has no crf.{name}"))
            .shallow_clone();
        tch::no_grad(|| var.copy_(fixture.get(name)));
    }
    (vs, crf)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

fn assert_close(what: &str, ours: &Tensor, theirs: &Tensor, tolerance: f64) {
    let diff = max_abs_diff(ours, theirs);
    assert!(
        diff <= tolerance,
        "{what}: max |ours - pytorch-crf| = {diff:e} > {tolerance:e}\nours: {ours}\ntheirs: {theirs}"
    );
}

fn check_against_pytorch_crf(num_tags: i64) {
    let fixture = Fixture::load(num_tags);
    let (vs, crf) = crf_from(&fixture, num_tags);
    let emissions = fixture.get("emissions").set_requires_grad(true);
    let tags = fixture.get("tags");
    let mask = fixture.get("mask");
    assert_eq!(mask.kind(), Kind::Bool);

    let llh = crf.log_likelihood(&emissions, tags, mask);
    assert_eq!(llh.kind(), Kind::Float);
    assert_close(
        "log-likelihood",
        &llh,
        fixture.get("log_likelihood"),
        TOLERANCE,
    );

    let nll = crf.nll(&emissions, tags, mask);
    assert_eq!(nll.size(), Vec::<i64>::new(), "nll is a scalar");
    assert_close(
        "mean log-likelihood",
        &(-&nll).reshape([1]),
        fixture.get("mean_log_likelihood"),
        TOLERANCE,
    );

    nll.backward();
    assert_close(
        "d nll / d emissions",
        &emissions.grad(),
        fixture.get("grad_emissions"),
        TOLERANCE,
    );
    let variables = vs.variables();
    for name in ["start_transitions", "end_transitions", "transitions"] {
        let grad = variables[&format!("crf.{name}")].grad();
        assert_close(
            &format!("d nll / d {name}"),
            &grad,
            fixture.get(&format!("grad_{name}")),
            TOLERANCE,
        );
    }

    for backend in BACKENDS {
        let paths = crf.decode_with(fixture.get("emissions"), mask, None, backend);
        assert_eq!(
            paths, fixture.paths,
            "{backend:?} Viterbi paths differ from pytorch-crf's"
        );
    }
    assert!(
        fixture.paths.iter().any(|p| p.len() == 1),
        "the fixture must cover a length-1 row"
    );
}

#[test]
fn matches_pytorch_crf_with_7_tags() {
    check_against_pytorch_crf(7);
}

#[test]
fn matches_pytorch_crf_with_13_tags() {
    check_against_pytorch_crf(13);
}

#[test]
fn tags_at_padded_positions_are_ignored() {
    let fixture = Fixture::load(7);
    let (_vs, crf) = crf_from(&fixture, 7);
    let mask = fixture.get("mask");
    let padded_tags = fixture.get("tags").masked_fill(&mask.logical_not(), -100);
    let llh = crf.log_likelihood(fixture.get("emissions"), &padded_tags, mask);
    assert_close(
        "log-likelihood with -100 padding tags",
        &llh,
        fixture.get("log_likelihood"),
        TOLERANCE,
    );
}

#[test]
fn integer_masks_work_like_bool_masks() {
    let fixture = Fixture::load(7);
    let (_vs, crf) = crf_from(&fixture, 7);
    let mask = fixture.get("mask").to_kind(Kind::Uint8);
    let llh = crf.log_likelihood(fixture.get("emissions"), fixture.get("tags"), &mask);
    assert_close(
        "log-likelihood with a u8 mask",
        &llh,
        fixture.get("log_likelihood"),
        TOLERANCE,
    );
    for backend in BACKENDS {
        assert_eq!(
            crf.decode_with(fixture.get("emissions"), &mask, None, backend),
            fixture.paths
        );
    }
}

#[test]
fn padding_emissions_have_no_influence_and_no_gradient() {
    let fixture = Fixture::load(13);
    let (_vs, crf) = crf_from(&fixture, 13);
    let mask = fixture.get("mask");
    // Garbage (large) scores in the padding must change neither the likelihood nor the paths.
    let noisy = fixture
        .get("emissions")
        .where_self(
            &mask.unsqueeze(2),
            &(Tensor::randn_like(fixture.get("emissions")) * 50.0),
        )
        .set_requires_grad(true);
    let llh = crf.log_likelihood(&noisy, fixture.get("tags"), mask);
    assert_close(
        "log-likelihood with noisy padding",
        &llh,
        fixture.get("log_likelihood"),
        TOLERANCE,
    );
    for backend in BACKENDS {
        assert_eq!(
            crf.decode_with(&noisy, mask, None, backend),
            fixture.paths,
            "{backend:?}"
        );
    }
    llh.sum(Kind::Float).backward();
    let padding_grad = noisy
        .grad()
        .masked_select(&mask.logical_not().unsqueeze(2).expand_as(&noisy));
    assert_eq!(padding_grad.abs().max().double_value(&[]), 0.0);
}

/// bf16 emissions (as produced under autocast) still give float32 scores equal to the float32
/// computation on the same (rounded) values, and near the unrounded ones.
#[test]
fn bf16_emissions_give_fp32_results() {
    let fixture = Fixture::load(7);
    let (_vs, crf) = crf_from(&fixture, 7);
    let tags = fixture.get("tags");
    let mask = fixture.get("mask");
    let emissions_bf16 = fixture
        .get("emissions")
        .to_kind(Kind::BFloat16)
        .set_requires_grad(true);
    let rounded_fp32 = emissions_bf16
        .detach()
        .to_kind(Kind::Float)
        .set_requires_grad(true);

    let llh_bf16 = crf.log_likelihood(&emissions_bf16, tags, mask);
    assert_eq!(llh_bf16.kind(), Kind::Float);
    let llh_rounded = crf.log_likelihood(&rounded_fp32, tags, mask);
    assert_close(
        "bf16 vs fp32 on rounded emissions",
        &llh_bf16,
        &llh_rounded,
        1e-5,
    );
    // bf16 keeps 8 bits of mantissa: |emission| ≲ 5 rounds by ≲ 0.02, over ≤ 9 positions.
    assert_close(
        "bf16 vs original fp32",
        &llh_bf16,
        fixture.get("log_likelihood"),
        0.2,
    );

    let nll = crf.nll(&emissions_bf16, tags, mask);
    assert_eq!(nll.kind(), Kind::Float);
    nll.backward();
    let grad = emissions_bf16.grad();
    assert_eq!(
        grad.kind(),
        Kind::BFloat16,
        "the gradient comes back in the emissions' dtype"
    );
    crf.nll(&rounded_fp32, tags, mask).backward();
    assert_close("bf16 gradient", &grad, &rounded_fp32.grad(), 1e-2);

    for backend in BACKENDS {
        let paths = crf.decode_with(&emissions_bf16, mask, None, backend);
        assert_eq!(
            paths,
            crf.decode(&rounded_fp32.detach(), mask, None),
            "{backend:?}"
        );
    }
}
