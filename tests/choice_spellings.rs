//! A setting that is both a hyperparameter and a command-line flag accepts the same spellings by both
//! paths, and refuses a bad one by both, listing the spellings.

use clap::Parser;
use ner_settings::{Choice, Device, Encoder, ExportFormat, InferencePrecision};
use sagemaker_contract::{Hyperparameters, ServingEnv};
use serde_json::json;

fn hyperparameter<T>(
    key: &str,
    value: &str,
    read: impl Fn(&Hyperparameters) -> T,
) -> Result<T, String> {
    let map = json!({ key: value }).as_object().unwrap().clone();
    Hyperparameters::from_map(&map)
        .map(|hp| read(&hp))
        .map_err(|e| e.to_string())
}

fn flag<A: Parser, T>(argv: &[&str], read: impl Fn(&A) -> T) -> Result<T, String> {
    A::try_parse_from(argv)
        .map(|a| read(&a))
        .map_err(|e| e.to_string())
}

/// Reads one value of a setting, or the error a user would see.
type Path<'a, T> = &'a dyn Fn(&str) -> Result<T, String>;

/// Every spelling of `T` (and its upper-case form) gives the same value through `hyperparameter` and
/// every flag; a bad one is refused by each, and each error lists every spelling.
fn both_paths<T: Choice + std::fmt::Debug>(
    hyperparameter: impl Fn(&str) -> Result<T, String>,
    flags: &[Path<T>],
) {
    for (value, spellings) in T::TABLE {
        for s in spellings
            .iter()
            .flat_map(|s| [s.to_string(), s.to_uppercase()])
        {
            assert_eq!(hyperparameter(&s).as_ref(), Ok(value), "hyperparameter {s}");
            for (i, flag) in flags.iter().enumerate() {
                assert_eq!(flag(&s).as_ref(), Ok(value), "flag {i}: {s}");
            }
        }
    }
    let errors = std::iter::once(hyperparameter("tpu").unwrap_err())
        .chain(flags.iter().map(|flag| flag("tpu").unwrap_err()));
    for error in errors {
        assert!(error.contains("tpu"), "{error}");
        for (_, spellings) in T::TABLE {
            for s in *spellings {
                assert!(
                    error.contains(&format!("\"{s}\"")),
                    "{s} missing from: {error}"
                );
            }
        }
    }
}

#[test]
fn device_spellings_are_one_table_for_hyperparameters_predict_serve_and_bench() {
    both_paths::<Device>(
        |s| hyperparameter("device", s, |hp| hp.device),
        &[
            &|s| {
                flag(
                    &["predict", "--model-dir", "m", "--device", s],
                    |a: &albert_ner::predict_cmd::Args| a.device,
                )
            },
            &|s| {
                flag(
                    &["serve", "--device", s],
                    |a: &albert_ner::serve_cmd::Args| a.device,
                )
            },
            &|s| {
                flag(
                    &["bench", "--device", s],
                    |a: &albert_ner::bench_cmd::Args| a.device,
                )
            },
        ],
    );
}

#[test]
fn encoder_spellings_are_one_table_for_hyperparameters_and_bench() {
    both_paths::<Encoder>(
        |s| hyperparameter("encoder", s, |hp| hp.encoder),
        &[&|s| {
            flag(
                &["bench", "--encoder", s],
                |a: &albert_ner::bench_cmd::Args| a.encoder,
            )
        }],
    );
}

#[test]
fn export_format_spellings_are_one_table_for_export() {
    // A flag only (no hyperparameter names it): the one path is `export --format`.
    both_paths::<ExportFormat>(
        |s| {
            flag(
                &["export", "--model-dir", "m", "--format", s],
                |a: &albert_ner::export_cmd::Args| a.format,
            )
        },
        &[],
    );
}

/// `ALBERT_NER_PRECISION` (the serving environment, in the hyperparameter's place) and `predict`'s and
/// `bench`'s `--precision` read one table.
#[test]
fn precision_spellings_are_one_table_for_predict_bench_and_the_serving_environment() {
    both_paths::<InferencePrecision>(
        |s| {
            ServingEnv::from_lookup(|name| (name == "ALBERT_NER_PRECISION").then(|| s.to_string()))
                .map(|env| env.precision)
                .map_err(|e| e.to_string())
        },
        &[
            &|s| {
                flag(
                    &["predict", "--model-dir", "m", "--precision", s],
                    |a: &albert_ner::predict_cmd::Args| a.precision,
                )
            },
            &|s| {
                flag(
                    &["bench", "--precision", s],
                    |a: &albert_ner::bench_cmd::Args| a.precision,
                )
            },
        ],
    );
}
