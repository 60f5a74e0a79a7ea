//! Downloading one object or a whole prefix. Every file is written under a temporary name and
//! renamed into place, so an interrupted download never leaves a truncated file that a later run
//! would take for complete weights.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;

use crate::{S3Error, S3Uri};

/// Downloads `uri` into `dest_dir` (created if needed) and returns what to use: the file for an
/// object URI, `dest_dir` for a prefix. An object URI that names no object but is a "directory"
/// (`s3://b/models/albert_base_zh` with objects under `albert_base_zh/`) downloads that prefix.
pub async fn download_with(
    client: &Client,
    uri: &S3Uri,
    dest_dir: &Path,
) -> Result<PathBuf, S3Error> {
    let shown = uri.to_string();
    std::fs::create_dir_all(dest_dir).map_err(|e| io_error(&shown, dest_dir, e))?;
    if uri.is_prefix() {
        return download_prefix(client, uri, &uri.key, dest_dir).await;
    }
    let name = uri.key.rsplit('/').next().unwrap_or_default();
    let target = dest_dir.join(safe_relative(uri, name)?);
    match download_object(client, uri, &uri.key, &target).await {
        Ok(()) => Ok(target),
        Err(e) if e.code() == Some("NoSuchKey") => {
            let prefix = format!("{}/", uri.key);
            match download_prefix(client, uri, &prefix, dest_dir).await {
                Err(S3Error::NoObjects { .. }) => Err(e),
                other => other,
            }
        }
        Err(e) => Err(e),
    }
}

async fn download_prefix(
    client: &Client,
    uri: &S3Uri,
    prefix: &str,
    dest_dir: &Path,
) -> Result<PathBuf, S3Error> {
    let shown = uri.to_string();
    let mut pages = client
        .list_objects_v2()
        .bucket(&uri.bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut count = 0usize;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(&shown, e))?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let relative = key.strip_prefix(prefix).unwrap_or(key);
            if relative.is_empty() || relative.ends_with('/') {
                continue; // "folder" marker objects
            }
            let target = dest_dir.join(safe_relative(uri, relative)?);
            download_object(client, uri, key, &target).await?;
            count += 1;
        }
    }
    if count == 0 {
        return Err(S3Error::NoObjects {
            uri: format!("s3://{}/{}", uri.bucket, prefix),
        });
    }
    tracing::info!(uri = %shown, files = count, dest = %dest_dir.display(), "downloaded S3 prefix");
    Ok(dest_dir.to_path_buf())
}

async fn download_object(
    client: &Client,
    uri: &S3Uri,
    key: &str,
    target: &Path,
) -> Result<(), S3Error> {
    let shown = format!("s3://{}/{}", uri.bucket, key);
    let output = client
        .get_object()
        .bucket(&uri.bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| sdk_error(&shown, e))?;
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error(&shown, dir, e))?;
    let file_name = target.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{file_name}.{}.part", std::process::id()));
    let result = async {
        let mut file = std::fs::File::create(&temp).map_err(|e| io_error(&shown, &temp, e))?;
        let mut body = output.body;
        while let Some(chunk) = body.try_next().await.map_err(|e| S3Error::Request {
            uri: shown.clone(),
            message: DisplayErrorContext(&e).to_string(),
        })? {
            file.write_all(&chunk)
                .map_err(|e| io_error(&shown, &temp, e))?;
        }
        file.flush().map_err(|e| io_error(&shown, &temp, e))?;
        std::fs::rename(&temp, target).map_err(|e| io_error(&shown, target, e))
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    tracing::debug!(uri = %shown, path = %target.display(), "downloaded S3 object");
    result
}

/// `relative` as a path that stays inside the destination directory.
fn safe_relative(uri: &S3Uri, relative: &str) -> Result<PathBuf, S3Error> {
    let path = Path::new(relative);
    let safe = !relative.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if safe {
        Ok(path.to_path_buf())
    } else {
        Err(S3Error::UnsafeKey {
            uri: uri.to_string(),
            key: relative.to_string(),
        })
    }
}

fn sdk_error<E, R>(uri: &str, err: SdkError<E, R>) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(code) = err.code() {
        return S3Error::Service {
            uri: uri.to_string(),
            code: code.to_string(),
            message: err.message().map(str::to_string),
        };
    }
    S3Error::Request {
        uri: uri.to_string(),
        message: DisplayErrorContext(&err).to_string(),
    }
}

fn io_error(uri: &str, path: &Path, source: std::io::Error) -> S3Error {
    S3Error::Io {
        uri: uri.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_destination() {
        let uri = S3Uri::parse("s3://b/p/").unwrap();
        assert_eq!(
            safe_relative(&uri, "a/b.txt").unwrap(),
            PathBuf::from("a/b.txt")
        );
        for bad in ["../x", "a/../../x", "/etc/passwd", ""] {
            assert!(
                matches!(safe_relative(&uri, bad), Err(S3Error::UnsafeKey { .. })),
                "{bad}"
            );
        }
    }
}
