//! Serving a trained tagger over HTTP as SageMaker expects of a model container: `GET /ping`,
//! `POST /invocations` (JSON, JSON lines or text, answered in the format `Accept` names) and
//! `GET /execution-parameters` for batch transform. Requests are batched across connections by one
//! inference thread ([`batcher`]); the HTTP side ([`routes`]) only parses, queues and formats.
//! Knows nothing of `/opt/ml`: the binary passes the model and the settings.

pub mod api_error;
pub mod batcher;
pub mod formats;
pub mod routes;
pub mod server;

pub use api_error::ApiError;
pub use batcher::{BatchSettings, Batcher};
pub use server::{run, ServeError, ServerSettings};
