//! Which architecture, weights and vocabulary a job starts from ([`JobStart`], the same for every
//! task), and the tagger built from them.

use std::path::{Path, PathBuf};

use albert_model::{
    BiLstmConfig, CharEmbeddingConfig, EncoderSpec, NerTagger, PretrainedWeights, TaggerSpec,
    TransformerConfig,
};
use anyhow::{bail, Context, Result};
use ner_data::{Tokenizer, WordVectors};
use ner_infer::Precision;
use ner_settings::Encoder;
use sagemaker_contract::{DataChannels, Hyperparameters, PretrainedSource, SageMakerPaths};
use tch::nn::VarStore;
use tracing::{info, warn};

use crate::memory_check::{check_fits_in_memory, check_training_batch_fits, Use};

/// Default architecture of the ALBERT encoders when neither weights nor `bert_config_file` say otherwise.
pub const DEFAULT_CONFIG: &str = "albert_config/albert_config_tiny.json";
/// The BERT encoders' default, as small as ALBERT's (BERT users normally bring a release's weights).
pub const DEFAULT_BERT_CONFIG: &str = "albert_config/bert_config_tiny.json";

/// The model a job starts from.
pub struct ModelSource {
    /// The transformer's architecture; `None` for the `bilstm` encoder, which has none.
    pub transformer: Option<TransformerConfig>,
    pub weights: Option<PretrainedWeights>,
    pub vocab: PathBuf,
    /// Where the weights came from, or why there are none (for the log's first lines).
    pub origin: String,
}

/// What every task of a training job starts from, prepared the same way: the channels, the model
/// source (checked to fit in memory), the precision, the tokenizer and the encoder; the output
/// directories created and checked on the rank that writes.
pub struct JobStart {
    pub channels: DataChannels,
    /// Where downloads and extracted files go; removed once training is done.
    pub scratch: PathBuf,
    pub source: ModelSource,
    pub precision: Precision,
    pub tokenizer: Tokenizer,
    pub encoder: EncoderSpec,
}

impl JobStart {
    pub fn prepare(
        paths: &SageMakerPaths,
        hp: &Hyperparameters,
        device: tch::Device,
        writes: bool,
    ) -> Result<Self> {
        let channels = DataChannels::resolve(paths, hp.data_dir.as_deref())?;
        let scratch = std::env::temp_dir().join(format!("albert-ner-{}", std::process::id()));
        let source = ModelSource::resolve(paths, hp, &channels, &scratch)?;
        info!("model: {}", source.origin);
        check_source(hp, &source, device)?;
        let (precision, why) = Precision::resolve(hp.mixed_precision, device);
        info!("device: {device:?}; precision: {why}");
        if writes {
            super::results::prepare_output_dirs(paths)?;
        }
        let tokenizer = Tokenizer::from_vocab_file(&source.vocab, hp.model.do_lower_case)
            .with_context(|| format!("vocab_file {}", source.vocab.display()))?;
        let encoder = encoder_spec(hp, &source, &tokenizer)?;
        check_training_batch_fits(
            &encoder,
            hp.train.train_batch_size,
            hp.model.max_seq_length,
            device,
            precision != Precision::Fp32,
        )?;
        if writes {
            super::disk_plan::check(paths, hp, &encoder, &channels)?;
        }
        Ok(JobStart {
            channels,
            scratch,
            source,
            precision,
            tokenizer,
            encoder,
        })
    }
}

/// Relative paths in hyperparameters resolve against the working directory (the image ships
/// `albert_config/` and `albert_base_zh/` there, at the paths the SageMaker NER article uses).
pub fn resolve_relative(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

impl ModelSource {
    /// Weights come from the one [`PretrainedSource`] given, else checkpoint files next to
    /// `bert_config_file` (the albert_zh release layout); with none, training starts from scratch.
    pub fn resolve(
        paths: &SageMakerPaths,
        hp: &Hyperparameters,
        channels: &DataChannels,
        scratch: &Path,
    ) -> Result<Self> {
        if hp.encoder == Encoder::Bilstm {
            return Self::bilstm(paths, hp, channels);
        }
        let config_path = hp.bert_config_file.as_deref().map(resolve_relative);
        let user_config = match &config_path {
            Some(p) => Some(
                TransformerConfig::from_json_file(p, hp.encoder)
                    .with_context(|| format!("bert_config_file {}", p.display()))?,
            ),
            None => None,
        };
        let (location, what) = match PretrainedSource::resolve(paths, hp, channels)? {
            Some(PretrainedSource::Local(p)) => {
                (Some(resolve_relative(&p)), "the pretrained source")
            }
            Some(PretrainedSource::S3(uri)) => (
                Some(super::host_download::fetch_s3(&uri, scratch)?),
                "pretrained_model_uri",
            ),
            None => (
                config_path.as_deref().and_then(weights_beside),
                "the directory of bert_config_file",
            ),
        };
        let vocab_hp = resolve_relative(&hp.vocab_file);
        let Some(location) = location else {
            let default = default_config(hp.encoder);
            let config = match user_config {
                Some(c) => c,
                None => TransformerConfig::from_json_file(
                    &resolve_relative(Path::new(default)),
                    hp.encoder,
                )
                .with_context(|| format!("default config {default}"))?,
            };
            let arch = config_path.map_or_else(|| default.to_string(), |p| p.display().to_string());
            return Ok(Self {
                transformer: Some(config),
                weights: None,
                vocab: vocab_hp,
                origin: format!(
                    "no pretrained weights (no pretrained channel, init_checkpoint, pretrained_model_uri, or \
                     checkpoint beside the config): training from scratch with the architecture of {arch}"
                ),
            });
        };
        let weights = PretrainedWeights::open_with_config(&location, user_config)
            .with_context(|| format!("pretrained weights from {what} ({})", location.display()))?;
        let vocab = match weights.vocab_path() {
            Some(p) => p.to_path_buf(),
            None => weights.extract_vocab(scratch)?.unwrap_or(vocab_hp),
        };
        Ok(Self {
            transformer: Some(weights.config().clone()),
            origin: format!(
                "pretrained weights ({:?}) from {what}: {}",
                weights.format(),
                location.display()
            ),
            weights: Some(weights),
            vocab,
        })
    }
}

impl ModelSource {
    /// A character BiLSTM starts from scratch (or from the `embeddings` channel's vectors); ALBERT
    /// weights have nowhere to go, so a job that gives them is refused rather than silently ignored.
    fn bilstm(
        paths: &SageMakerPaths,
        hp: &Hyperparameters,
        channels: &DataChannels,
    ) -> Result<Self> {
        if let Some(source) = PretrainedSource::resolve(paths, hp, channels)? {
            bail!(
                "encoder=bilstm has no ALBERT to load the pretrained weights ({source:?}) into: use \
                 encoder=albert_bilstm to train a BiLSTM over them, or give character vectors in the \
                 `embeddings` channel"
            );
        }
        Ok(Self {
            transformer: None,
            weights: None,
            vocab: resolve_relative(&hp.vocab_file),
            origin: "a character BiLSTM from scratch".to_string(),
        })
    }
}

/// Refuses a model that cannot fit in memory before libtorch allocates it, and warns of a learning
/// rate meant for pretrained weights on a model from scratch.
pub fn check_source(hp: &Hyperparameters, source: &ModelSource, device: tch::Device) -> Result<()> {
    let Some(transformer) = &source.transformer else {
        return Ok(());
    };
    check_fits_in_memory(transformer.view(), Use::Training(device))?;
    if source.weights.is_none() && hp.train.learning_rate < 1e-4 {
        warn!(
            "learning_rate={} is a rate for fine-tuning pretrained weights; from scratch a tiny ALBERT \
             learnt MSRA best at 5e-4 with crf_learning_rate_multiplier=10 (README, \"Accuracy for a \
             wall-clock budget\")",
            hp.train.learning_rate
        );
    }
    Ok(())
}

/// The encoder the job trains: ALBERT's architecture with the dropout hyperparameters applied, and
/// the BiLSTM's and character table's sizes; refused where the vocabulary or the windows do not fit
/// it.
pub fn encoder_spec(
    hp: &Hyperparameters,
    source: &ModelSource,
    tokenizer: &Tokenizer,
) -> Result<EncoderSpec> {
    let lstm = BiLstmConfig {
        hidden_size: hp.lstm_hidden_size as i64,
        num_layers: hp.lstm_layers as i64,
        dropout: hp.lstm_dropout,
    };
    let chars = CharEmbeddingConfig {
        vocab_size: tokenizer.vocab_size() as i64,
        char_embedding_size: hp.char_embedding_size as i64,
        pad_token_id: tokenizer.pad_id(),
    };
    let transformer = source.transformer.clone().map(|mut t| {
        t.set_dropout(
            hp.hidden_dropout_prob,
            hp.attention_probs_dropout_prob,
            hp.classifier_dropout_prob,
        );
        t
    });
    let encoder = EncoderSpec::assemble(hp.encoder, transformer, lstm, chars)?;
    info!("encoder: {}", encoder.describe());
    if tokenizer.vocab_size() as i64 > encoder.vocab_size() {
        bail!(
            "the vocabulary {} has {} entries but the model config has vocab_size={}: they must match",
            source.vocab.display(),
            tokenizer.vocab_size(),
            encoder.vocab_size()
        );
    }
    if let Some(max) = encoder.max_positions() {
        if hp.model.max_seq_length as i64 > max {
            bail!(
                "max_seq_length={} exceeds the model's max_position_embeddings={max}",
                hp.model.max_seq_length
            );
        }
    }
    Ok(encoder)
}

/// The tagger's variables on `device` (seeded), with the pretrained weights and character vectors
/// the job gives loaded into them.
pub fn build_tagger(
    hp: &Hyperparameters,
    spec: &TaggerSpec,
    source: &ModelSource,
    channels: &DataChannels,
    tokenizer: &Tokenizer,
    device: tch::Device,
) -> Result<(VarStore, NerTagger)> {
    tch::manual_seed(hp.train.seed as i64);
    let mut vs = VarStore::new(device);
    let mut tagger = NerTagger::new(&vs.root(), spec);
    if let Some(weights) = &source.weights {
        let report = weights.load_into(&mut vs)?;
        info!("pretrained: {report}");
    }
    if let Some(file) = &channels.embeddings {
        load_char_vectors(file, tokenizer, hp.char_embedding_size, &mut tagger)?;
    }
    Ok((vs, tagger))
}

/// Copies the `embeddings` channel's word2vec vectors into the tagger's character table and logs the
/// vocabulary's coverage. Only the `bilstm` encoder has such a table; vectors of another width than
/// `char_embedding_size` are refused naming the file and both sizes.
pub fn load_char_vectors(
    file: &Path,
    tokenizer: &Tokenizer,
    char_embedding_size: usize,
    tagger: &mut NerTagger,
) -> Result<()> {
    let Some(table) = tagger.encoder_mut().char_embeddings_mut() else {
        bail!(
            "the `embeddings` channel ({}) holds character vectors, which only encoder=bilstm uses",
            file.display()
        );
    };
    let vectors = WordVectors::read(file).context("the `embeddings` channel")?;
    if vectors.dim != char_embedding_size {
        bail!(
            "{}: the vectors have {} dimensions but char_embedding_size is {}; set \
             char_embedding_size={} or give vectors of {} dimensions",
            file.display(),
            vectors.dim,
            char_embedding_size,
            vectors.dim,
            char_embedding_size
        );
    }
    let rows = vectors.rows_for(tokenizer);
    info!("character vectors from {}: {rows}", file.display());
    let values =
        tch::Tensor::from_slice(&rows.values).view([rows.ids.len() as i64, vectors.dim as i64]);
    table.set_rows(&rows.ids, &values);
    Ok(())
}

/// The architecture an encoder starts from when the job names none.
fn default_config(encoder: Encoder) -> &'static str {
    match encoder.transformer() {
        Some(Encoder::Bert) => DEFAULT_BERT_CONFIG,
        _ => DEFAULT_CONFIG,
    }
}

/// A checkpoint in the same directory as the config file (the albert_zh release layout).
fn weights_beside(config: &Path) -> Option<PathBuf> {
    let dir = config.parent()?;
    let entries = std::fs::read_dir(dir).ok()?;
    let has_weights = entries.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.ends_with(".index") || name == "model.safetensors" || name == "pytorch_model.bin"
    });
    has_weights.then(|| dir.to_path_buf())
}
