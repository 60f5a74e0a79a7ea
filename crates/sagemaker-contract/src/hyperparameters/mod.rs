//! Typed hyperparameters. SageMaker passes every value as a string in hyperparameters.json; this
//! module turns them into one struct with the defaults filled in, refusing unknown names and
//! ill-typed values with messages that name the key (they become the job's `FailureReason`).

mod keys;
mod value;

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

pub use keys::{IGNORED as IGNORED_HYPERPARAMETERS, KNOWN as KNOWN_HYPERPARAMETERS};

use ner_settings::{
    DataFormat, Device, Distributed, Encoder, Head, MixedPrecision, ModelSettings, Task, TaskName,
    TrainSettings,
};

use crate::{ContractError, SageMakerPaths};
use value::Raw;

/// Every setting of a training job, defaults applied. Field names are the hyperparameter names;
/// the settings saved with the model ([`ModelSettings`]) and the trainer's ([`TrainSettings`]) are
/// groups of their own, flattened into the one namespace users write. Paths are kept exactly as given;
/// relative ones are resolved by the binary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hyperparameters {
    // Flags of the replaced albert_ner.py, same names and meanings (with `model`'s and `train`'s).
    pub task_name: TaskName,
    /// Replaces the `training` channel as the place to read data from.
    pub data_dir: Option<PathBuf>,
    /// albert_zh JSON or HF config.json; `None` = the pretrained weights' own config, else the
    /// bundled tiny config.
    pub bert_config_file: Option<PathBuf>,
    pub vocab_file: PathBuf,
    /// Accepted for compatibility; the model always goes to SageMaker's model directory.
    pub output_dir: Option<PathBuf>,
    /// Pretrained weights (directory, TF checkpoint prefix or zip), like the `pretrained` channel.
    pub init_checkpoint: Option<PathBuf>,
    pub do_train: bool,
    pub do_eval: bool,
    /// Predict the test data when there is any.
    pub do_predict: bool,
    pub predict_batch_size: usize,

    /// `max_seq_length`, `window_stride`, `do_lower_case`, `bio_constraints`: saved with the model.
    #[serde(flatten)]
    pub model: ModelSettings,
    /// The trainer's: epochs and steps, batch sizes, learning rates, evaluation, checkpoints.
    #[serde(flatten)]
    pub train: TrainSettings,

    // This container's own.
    /// `ner` fine-tunes a tagger; `pretrain` continues the transformer's masked-LM pre-training on raw
    /// text.
    pub task: Task,
    /// `task=pretrain`: the share of each sequence's word pieces predicted (whole words).
    pub masking_rate: f64,
    /// `task=pretrain` with ALBERT: also ALBERT's sentence-order prediction (off by default).
    pub sentence_order_prediction: bool,
    pub head: Head,
    pub encoder: Encoder,
    /// Width of the `bilstm` encoder's character vectors (and of the `embeddings` channel's).
    pub char_embedding_size: usize,
    /// Per direction.
    pub lstm_hidden_size: usize,
    pub lstm_layers: usize,
    /// On the LSTM's input, between its layers and on its output.
    pub lstm_dropout: f64,
    pub mixed_precision: MixedPrecision,
    pub data_format: DataFormat,
    pub labels_file: Option<PathBuf>,
    /// Fraction of training split off (seeded) when there is no validation data.
    pub validation_split: f64,
    /// `s3://` URI or local path of pretrained weights.
    pub pretrained_model_uri: Option<String>,
    pub device: Device,
    pub hidden_dropout_prob: Option<f64>,
    pub attention_probs_dropout_prob: Option<f64>,
    /// Dropout before the classifier (HF's `classifier_dropout_prob`); `None`: the model config's.
    pub classifier_dropout_prob: Option<f64>,
    /// Data parallelism across the job's GPUs and hosts (`auto`), or one process on `hosts[0]` (`off`).
    pub distributed: Distributed,
    /// Worker processes per host; `None`: one per GPU, 1 on a CPU host.
    pub processes_per_host: Option<usize>,
    /// How long any rank waits for the others (joining, each collective) before failing.
    pub distributed_timeout_seconds: f64,
    /// Port of the rendezvous on `hosts[0]` (SageMaker's toolkits use 7777).
    pub master_port: u16,

    /// Things the user should know (ignored TensorFlow flags, overridden `output_dir`); not a
    /// hyperparameter, so never serialised. The caller logs them.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// `learning_rate`'s default for `encoder=bilstm` (README, "BiLSTM encoders": measured on MSRA).
pub const BILSTM_LEARNING_RATE: f64 = 1e-2;

/// More epochs than any fine-tuning needs; beyond it the step count and the schedule's rates
/// stop meaning anything (1e30 epochs gave u64::MAX steps at a learning rate of ~1e-22).
const MAX_EPOCHS: f64 = 1e6;

/// The top-level object of hyperparameters.json, in file order with repeats kept, so that a key
/// given twice is an error rather than "the last one wins".
struct Entries(Vec<(String, Value)>);

impl Entries {
    fn into_map(self) -> Result<Map<String, Value>, String> {
        let mut map = Map::new();
        for (key, value) in self.0 {
            if let Some(first) = map.get(&key) {
                return Err(format!(
                    "hyperparameter `{key}` is given twice ({first} and {value}); give it once"
                ));
            }
            map.insert(key, value);
        }
        Ok(map)
    }
}

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of hyperparameter names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = m.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(Visitor)
    }
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Self {
            task_name: TaskName::default(),
            data_dir: None,
            bert_config_file: None,
            vocab_file: PathBuf::from("albert_config/vocab.txt"),
            output_dir: None,
            init_checkpoint: None,
            do_train: true,
            do_eval: true,
            do_predict: true,
            predict_batch_size: 64,
            task: Task::default(),
            masking_rate: 0.15,
            sentence_order_prediction: false,
            model: ModelSettings::default(),
            train: TrainSettings::default(),
            head: Head::default(),
            encoder: Encoder::default(),
            char_embedding_size: 100,
            lstm_hidden_size: 128,
            lstm_layers: 1,
            lstm_dropout: 0.5,
            mixed_precision: MixedPrecision::default(),
            data_format: DataFormat::default(),
            labels_file: None,
            validation_split: 0.1,
            pretrained_model_uri: None,
            device: Device::default(),
            hidden_dropout_prob: None,
            attention_probs_dropout_prob: None,
            classifier_dropout_prob: None,
            distributed: Distributed::default(),
            processes_per_host: None,
            distributed_timeout_seconds: 600.0,
            master_port: 7777,
            warnings: Vec::new(),
        }
    }
}

impl Hyperparameters {
    /// Reads `input/config/hyperparameters.json` (absent = all defaults) and checks `output_dir`
    /// against the model directory.
    pub fn load(paths: &SageMakerPaths) -> Result<Self, ContractError> {
        let file = &paths.hyperparameters_file;
        let map = match crate::json_file::read_optional::<Entries>(file)? {
            None => Map::new(),
            Some(entries) => entries
                .into_map()
                .map_err(|message| ContractError::BadConfig {
                    path: file.clone(),
                    message,
                })?,
        };
        let mut hp = Self::from_map(&map)?;
        if let Some(out) = &hp.output_dir {
            if paths.rebase(out) != paths.model_dir {
                hp.warnings.push(format!(
                    "output_dir {} is ignored: the model is written to {}, the directory SageMaker uploads",
                    out.display(),
                    paths.model_dir.display()
                ));
            }
        }
        Ok(hp)
    }

    /// Parses a hyperparameters.json object. Keys SageMaker adds itself (`sagemaker_*`,
    /// `_tuning_objective_metric`) are skipped; TensorFlow-only flags are skipped with a warning.
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, ContractError> {
        let mut hp = Self::default();
        let defaults = hp.resolved_json();
        for (key, value) in map {
            if keys::is_platform_key(key) {
                continue;
            }
            if let Some(why) = keys::ignored_reason(key) {
                hp.warnings
                    .push(format!("hyperparameter `{key}` is ignored: {why}"));
                continue;
            }
            let raw = Raw::new(key, value);
            // Null for an optional setting means "not given"; for one with a value it hides a mistake.
            let default = defaults.get(key).filter(|d| !d.is_null());
            if let (true, Some(default)) = (raw.is_unset(), default) {
                hp.warnings.push(format!(
                    "hyperparameter `{key}` is {}: its default {default} is used",
                    raw.original()
                ));
            }
            hp.set(key, &raw)?;
        }
        let given = |key: &str| map.get(key).is_some_and(|v| !Raw::new(key, v).is_unset());
        hp.apply_encoder_defaults(given);
        hp.warn_unused_by_encoder(given);
        hp.validate()?;
        Ok(hp)
    }

    /// The effective values of every hyperparameter, for writing next to the model so a run can be
    /// reproduced and audited. Unset optional values are `null`.
    pub fn resolved_json(&self) -> Value {
        serde_json::to_value(self).expect("hyperparameters always serialise")
    }

    fn set(&mut self, key: &str, raw: &Raw) -> Result<(), ContractError> {
        let positive = |v: f64| v > 0.0;
        let non_negative = |v: f64| v >= 0.0;
        let fraction = |v: f64| (0.0..=1.0).contains(&v);
        let probability = |v: f64| (0.0..1.0).contains(&v);
        match key {
            "task_name" => set(&mut self.task_name, raw.choice()?),
            "data_dir" => self.data_dir = raw.path(),
            "bert_config_file" => self.bert_config_file = raw.path(),
            "vocab_file" => set(&mut self.vocab_file, raw.path()),
            "output_dir" => self.output_dir = raw.path(),
            "init_checkpoint" => self.init_checkpoint = raw.path(),
            "do_lower_case" => set(&mut self.model.do_lower_case, raw.bool()?),
            "max_seq_length" => set(&mut self.model.max_seq_length, raw.usize(3)?),
            "do_train" => set(&mut self.do_train, raw.bool()?),
            "do_eval" => set(&mut self.do_eval, raw.bool()?),
            "do_predict" => set(&mut self.do_predict, raw.bool()?),
            "train_batch_size" => set(&mut self.train.train_batch_size, raw.usize(1)?),
            "eval_batch_size" => set(&mut self.train.eval_batch_size, raw.usize(1)?),
            "predict_batch_size" => set(&mut self.predict_batch_size, raw.usize(1)?),
            "learning_rate" => set(
                &mut self.train.learning_rate,
                raw.float(positive, "a number > 0")?,
            ),
            "num_train_epochs" => set(
                &mut self.train.num_train_epochs,
                raw.float(
                    |v| (0.0..=MAX_EPOCHS).contains(&v),
                    "a number from 0 to 1000000",
                )?,
            ),
            "warmup_proportion" => set(
                &mut self.train.warmup_proportion,
                raw.float(fraction, "a number from 0 to 1")?,
            ),
            "save_checkpoints_steps" => set(&mut self.train.save_checkpoints_steps, raw.usize(0)?),
            "task" => set(&mut self.task, raw.choice()?),
            "masking_rate" => set(
                &mut self.masking_rate,
                raw.float(|v| v > 0.0 && v < 1.0, "a number > 0 and < 1")?,
            ),
            "sentence_order_prediction" => set(&mut self.sentence_order_prediction, raw.bool()?),
            "head" => set(&mut self.head, raw.choice()?),
            "crf_learning_rate_multiplier" => set(
                &mut self.train.crf_learning_rate_multiplier,
                raw.float(positive, "a number > 0")?,
            ),
            "encoder" => set(&mut self.encoder, raw.choice()?),
            "char_embedding_size" => set(&mut self.char_embedding_size, raw.usize(1)?),
            "lstm_hidden_size" => set(&mut self.lstm_hidden_size, raw.usize(1)?),
            "lstm_layers" => set(&mut self.lstm_layers, raw.usize(1)?),
            "lstm_dropout" => set(
                &mut self.lstm_dropout,
                raw.float(probability, "a number ≥ 0 and < 1")?,
            ),
            "lstm_learning_rate_multiplier" => set(
                &mut self.train.lstm_learning_rate_multiplier,
                raw.float(positive, "a number > 0")?,
            ),
            "weight_decay" => set(
                &mut self.train.weight_decay,
                raw.float(non_negative, "a number ≥ 0")?,
            ),
            "max_grad_norm" => set(
                &mut self.train.max_grad_norm,
                raw.float(non_negative, "a number ≥ 0")?,
            ),
            "gradient_accumulation_steps" => {
                set(&mut self.train.gradient_accumulation_steps, raw.usize(1)?)
            }
            "seed" => set(&mut self.train.seed, raw.int(0)?),
            "mixed_precision" => set(&mut self.mixed_precision, raw.choice()?),
            "logging_steps" => set(&mut self.train.logging_steps, raw.usize(0)?),
            "eval_steps" => set(&mut self.train.eval_steps, raw.usize(0)?),
            "early_stopping_patience" => {
                set(&mut self.train.early_stopping_patience, raw.usize(0)?)
            }
            "data_format" => set(&mut self.data_format, raw.choice()?),
            "labels_file" => self.labels_file = raw.path(),
            "window_stride" => set(&mut self.model.window_stride, raw.usize(0)?),
            "validation_split" => set(
                &mut self.validation_split,
                raw.float(probability, "a number ≥ 0 and < 1")?,
            ),
            "bio_constraints" => set(&mut self.model.bio_constraints, raw.bool()?),
            "keep_checkpoints" => set(&mut self.train.keep_checkpoints, raw.usize(1)?),
            "max_steps" => set(&mut self.train.max_steps, raw.usize(0)?),
            "max_train_seconds" => set(
                &mut self.train.max_train_seconds,
                raw.float(non_negative, "a number of seconds ≥ 0")?,
            ),
            "pretrained_model_uri" => self.pretrained_model_uri = raw.string(),
            "device" => set(&mut self.device, raw.choice()?),
            "hidden_dropout_prob" => {
                self.hidden_dropout_prob = raw.float(probability, "a number ≥ 0 and < 1")?
            }
            "attention_probs_dropout_prob" => {
                self.attention_probs_dropout_prob =
                    raw.float(probability, "a number ≥ 0 and < 1")?
            }
            "classifier_dropout_prob" => {
                self.classifier_dropout_prob = raw.float(probability, "a number ≥ 0 and < 1")?
            }
            "distributed" => set(&mut self.distributed, raw.choice()?),
            "processes_per_host" => {
                if let Some(n) = raw.usize(1)? {
                    self.processes_per_host = Some(n);
                }
            }
            "distributed_timeout_seconds" => set(
                &mut self.distributed_timeout_seconds,
                raw.float(positive, "a number of seconds > 0")?,
            ),
            "master_port" => {
                if let Some(port) = raw.usize(1)? {
                    self.master_port =
                        u16::try_from(port).map_err(|_| ContractError::BadHyperparameter {
                            key: key.into(),
                            value: port.to_string(),
                            expected: "a TCP port from 1 to 65535".into(),
                        })?;
                }
            }
            _ => {
                return Err(ContractError::UnknownHyperparameter {
                    key: key.to_string(),
                    suggestions: keys::suggestions(key),
                })
            }
        }
        Ok(())
    }

    /// Defaults that depend on the encoder, for the keys the job did not give (`given`). A `bilstm`
    /// trains from scratch as a whole, so everything learns at one rate, a BiLSTM's rate
    /// ([`BILSTM_LEARNING_RATE`]); over ALBERT or BERT the BiLSTM is new, like the head, and learns at
    /// the head's multiple.
    fn apply_encoder_defaults(&mut self, given: impl Fn(&str) -> bool) {
        match self.encoder {
            Encoder::Albert => {}
            Encoder::Bilstm => {
                if !given("learning_rate") {
                    self.train.learning_rate = BILSTM_LEARNING_RATE;
                }
                if !given("crf_learning_rate_multiplier") {
                    self.train.crf_learning_rate_multiplier = 1.0;
                }
            }
            Encoder::Bert => {}
            Encoder::AlbertBilstm | Encoder::BertBilstm => {
                if !given("lstm_learning_rate_multiplier") {
                    self.train.lstm_learning_rate_multiplier =
                        self.train.crf_learning_rate_multiplier;
                }
            }
        }
    }

    /// Warns of the keys given a value other than their default that the encoder has nothing to
    /// apply to (a transformer's with a BiLSTM alone, an LSTM's without one), so a mistaken encoder or
    /// a leftover setting is seen. (A model's saved hyperparameters, every key at its value, read back
    /// without warnings.)
    fn warn_unused_by_encoder(&mut self, given: impl Fn(&str) -> bool) {
        let encoder = self.encoder;
        let (values, defaults) = (self.resolved_json(), Self::default().resolved_json());
        let given = |key: &str| given(key) && values.get(key) != defaults.get(key);
        let unused: &[(&str, bool)] = &[
            ("bert_config_file", encoder.transformer().is_none()),
            ("hidden_dropout_prob", encoder.transformer().is_none()),
            (
                "attention_probs_dropout_prob",
                encoder.transformer().is_none(),
            ),
            ("classifier_dropout_prob", encoder.transformer().is_none()),
            ("char_embedding_size", encoder != Encoder::Bilstm),
            ("lstm_hidden_size", !encoder.has_lstm()),
            ("lstm_layers", !encoder.has_lstm()),
            ("lstm_dropout", !encoder.has_lstm()),
            ("lstm_learning_rate_multiplier", !encoder.has_lstm()),
        ];
        for (key, is_unused) in unused {
            if *is_unused && given(key) {
                self.warnings.push(format!(
                    "hyperparameter `{key}` is not used by encoder={encoder}: it is ignored"
                ));
            }
        }
    }

    /// Checks that involve more than one key.
    fn validate(&self) -> Result<(), ContractError> {
        let content = self.model.max_seq_length - 2;
        if self.model.window_stride >= content {
            return Err(ContractError::BadHyperparameter {
                key: "window_stride".into(),
                value: self.model.window_stride.to_string(),
                expected: format!(
                    "fewer units than fit in one window (max_seq_length - 2 = {content})"
                ),
            });
        }
        if self.train.num_train_epochs == 0.0 && self.train.max_steps == 0 && self.do_train {
            return Err(ContractError::BadHyperparameter {
                key: "num_train_epochs".into(),
                value: "0".into(),
                expected: "a number > 0 (or set max_steps)".into(),
            });
        }
        Ok(())
    }
}

/// `None` (Python `None`, JSON `null`) leaves the default in place.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

#[cfg(test)]
mod tests;
