//! Settings defined once, for every crate: the hyperparameters, the command-line flags, `config.json`,
//! the model directory and the crates that act on a setting all use these types.
//!
//! * Every setting with a closed set of values (`choices.rs`), declared with the crate's `choices!`
//!   macro: its variants and, per variant, the spellings users may write (canonical first; matched
//!   case-insensitively after trimming). That one table drives parsing ([`std::str::FromStr`]), the
//!   canonical name ([`std::fmt::Display`], serde) and the list an error shows, so a spelling the
//!   `device` hyperparameter accepts is one `predict --device` accepts too.
//! * [`ModelSettings`]: what a model is saved with because tagging must repeat it, and the defaults
//!   the training job and a model without them share.
//! * [`TrainSettings`]: how the trainer optimises, evaluates and checkpoints; the hyperparameters
//!   hold it and the trainer takes it as it is.
//!
//! No tch, no I/O: every crate can depend on this one.

mod choice;
mod choices;
mod model;
mod training;

pub use choice::{Choice, UnknownChoice};
pub use choices::{
    DataFormat, Device, Distributed, Encoder, ExportFormat, Head, InferencePrecision,
    MixedPrecision, Task, TaskName,
};
pub use model::ModelSettings;
pub use training::TrainSettings;
