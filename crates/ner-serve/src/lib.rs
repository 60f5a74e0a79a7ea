//! Serving a trained tagger over HTTP as SageMaker expects of a model container: `GET /ping`,
//! `POST /invocations` (JSON, JSON lines or text, answered in the format `Accept` names) and
//! `GET /execution-parameters` for batch transform. Requests are batched across connections by one
//! inference thread ([`Batcher`], `batcher.rs`); the HTTP side (`routes.rs`) only parses, queues and formats.
//! Knows nothing of `/opt/ml`: the binary passes the model and the settings.

mod api_error;
mod batcher;
mod formats;
mod routes;
mod server;

pub use api_error::ApiError;
pub use batcher::{BatchSettings, Batcher};
pub use server::{run, ServeError, ServerSettings};
