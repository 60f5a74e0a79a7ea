//! `s3://` downloads for the training image, e.g. the `pretrained_model_uri` hyperparameter. The
//! only crate in the workspace that compiles the AWS SDK, so the rest builds without it.
//!
//! Credentials come from the SDK's default chain (environment, profile, ECS/SageMaker container
//! credentials, instance metadata); the region from `AWS_REGION` / `AWS_DEFAULT_REGION` / the
//! profile / instance metadata (else `us-east-1`); endpoint overrides from `AWS_ENDPOINT_URL_S3` /
//! `AWS_ENDPOINT_URL`, as every AWS SDK reads them. SSO profiles are not compiled in (they cost
//! two more SDK crates and are never used inside a training job).

mod client;
mod download;
mod error;
mod uri;

use std::path::{Path, PathBuf};

pub use client::{client, PATH_STYLE_ENV};
pub use download::download_with;
pub use error::S3Error;
pub use uri::S3Uri;

/// Downloads an `s3://bucket/key` object, or everything under `s3://bucket/prefix/` keeping the
/// paths relative to the prefix, into `dest_dir`. Returns the downloaded file for an object and
/// `dest_dir` for a prefix.
///
/// Blocking: it runs its own single-threaded tokio runtime, because the binaries are synchronous
/// and a download happens once, before training. Must not be called from inside an async runtime.
pub fn download(uri: &str, dest_dir: &Path) -> Result<PathBuf, S3Error> {
    let parsed = S3Uri::parse(uri)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(S3Error::Runtime)?;
    runtime.block_on(async {
        let client = client().await;
        download_with(&client, &parsed, dest_dir).await
    })
}
