//! The one error type of the contract. Every message names the file, key or value at fault because
//! it ends up verbatim in SageMaker's `FailureReason`, where the user has nothing else to go on.

use std::path::PathBuf;

/// Why the container contract could not be honoured.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// A file or directory of the contract could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The disk holding `dirs` cannot take what the job will write.
    #[error(
        "not enough free disk space for {dirs}: {free} free, the job writes up to {needed} ({detail}); \
         give the job a larger volume (volume_size in the estimator) or keep fewer checkpoints \
         (keep_checkpoints)"
    )]
    DiskSpace {
        dirs: String,
        free: String,
        needed: String,
        detail: String,
    },

    /// A config file is not the JSON SageMaker writes.
    #[error("{path} is not valid: {message}")]
    BadConfig { path: PathBuf, message: String },

    /// No training data where SageMaker (or `data_dir`) says it is.
    #[error(
        "no training data: {dir} is missing or holds no files; give the training job a `training` \
         channel (or set the `data_dir` hyperparameter to a directory with data)"
    )]
    NoTrainingData { dir: PathBuf },

    /// An optional channel was given but holds nothing to read.
    #[error("the `{channel}` channel directory {dir} holds no files")]
    EmptyChannel { channel: String, dir: PathBuf },

    /// The `embeddings` channel must hold exactly one word2vec text file.
    #[error(
        "the `embeddings` channel directory {dir} holds {count} files ({names}); it takes exactly one \
         word2vec text file of character vectors"
    )]
    EmbeddingsNotOneFile {
        dir: PathBuf,
        count: usize,
        names: String,
    },

    /// Pipe mode streams records through FIFOs, which a line-oriented NER reader cannot re-read per epoch.
    #[error(
        "channel `{channel}` uses Pipe input mode, which this container does not support; \
         set input_mode to \"File\" or \"FastFile\" on the estimator or TrainingInput"
    )]
    PipeMode { channel: String },

    /// With several instances and a sharded channel, a host would see only its shard: the replicas
    /// shard each global batch themselves and need the whole dataset on every host.
    #[error(
        "channel `{channel}` is sharded (S3DistributionType ShardedByS3Key) across {hosts} instances, \
         but every host needs the whole dataset (the replicas share out each batch themselves); use \
         FullyReplicated"
    )]
    ShardedChannel { channel: String, hosts: usize },

    /// Pretrained weights given in two ways at once.
    #[error(
        "pretrained weights are given twice, by {first} and by {second}; give only one of the \
         `pretrained` channel, `init_checkpoint` and `pretrained_model_uri`"
    )]
    ConflictingPretrained { first: String, second: String },

    /// A hyperparameter this container does not know.
    #[error("unknown hyperparameter `{key}`{}", suggestion_text(.suggestions))]
    UnknownHyperparameter {
        key: String,
        suggestions: Vec<String>,
    },

    /// resourceconfig.json's `current_host` is not one of its `hosts`: the role cannot be decided.
    #[error(
        "resourceconfig.json: current_host {current:?} is not in hosts {hosts:?}; the file is \
         inconsistent, so this host cannot tell whether it trains"
    )]
    UnknownHost { current: String, hosts: Vec<String> },

    /// A directory named like a split file (`train.txt/`): reading it whole would be a guess.
    #[error(
        "{path} is a directory, but its name says it is the {split} file; put the data file there \
         (or rename the directory)"
    )]
    SplitIsDirectory { path: PathBuf, split: &'static str },

    /// Directories nested deeper than any real channel (a symlink chain, most likely).
    #[error(
        "{dir} is more than {max} directories deep inside its channel; data channels hold files, \
         not such trees (is a symlink pointing back up?)"
    )]
    TooDeep { dir: PathBuf, max: usize },

    /// Something in a channel that is neither a file nor a directory (File and FastFile mode lay out
    /// regular files; a FIFO here is not Pipe mode, whose FIFOs sit beside the channels).
    #[error(
        "{path}: {kind} in a channel, not a file: a channel holds regular files and directories"
    )]
    NotAFile { path: PathBuf, kind: &'static str },

    /// A serving environment variable whose value does not fit its type or range.
    #[error("environment variable {name} has value {value:?}, expected {expected}")]
    BadEnvironment {
        name: &'static str,
        value: String,
        expected: &'static str,
    },

    /// A serving environment variable that is none of its choice's spellings (the error lists them).
    #[error("environment variable {name}: {source}")]
    BadEnvironmentChoice {
        name: &'static str,
        #[source]
        source: ner_settings::UnknownChoice,
    },

    /// A hyperparameter whose value does not fit its type or range.
    #[error("hyperparameter `{key}` has value {value:?}, expected {expected}")]
    BadHyperparameter {
        key: String,
        value: String,
        expected: String,
    },
}

fn suggestion_text(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::from(" (see the README for the accepted names)"),
        [one] => format!("; did you mean `{one}`?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("; did you mean one of {}?", quoted.join(", "))
        }
    }
}

impl ContractError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
