//! Download errors. Each names the URI and, for S3's own refusals, S3's error code, because the
//! code (`NoSuchBucket`, `AccessDenied`, …) is what tells a user whether to fix the URI or the IAM
//! role.

use std::path::PathBuf;

/// Why an `s3://` download failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error(
        "{uri:?} is not an S3 URI: {reason} (expected s3://bucket/key or s3://bucket/prefix/)"
    )]
    InvalidUri { uri: String, reason: String },

    /// S3 answered with an error.
    #[error("S3 refused {uri}: {code}{}", message_suffix(.message))]
    Service {
        uri: String,
        code: String,
        message: Option<String>,
    },

    /// No answer from S3 (network, endpoint, credentials, region).
    #[error("could not reach S3 for {uri}: {message}")]
    Request { uri: String, message: String },

    /// A prefix with nothing under it.
    #[error("no objects under {uri}")]
    NoObjects { uri: String },

    /// An object key that would escape the destination directory (`..`, absolute).
    #[error(
        "refusing object key {key:?} under {uri}: it would be written outside the destination"
    )]
    UnsafeKey { uri: String, key: String },

    #[error("writing {path} (from {uri}): {source}")]
    Io {
        uri: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("starting the runtime for S3 downloads: {0}")]
    Runtime(#[source] std::io::Error),
}

impl S3Error {
    /// S3's error code, when S3 answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            S3Error::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn message_suffix(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default()
}
