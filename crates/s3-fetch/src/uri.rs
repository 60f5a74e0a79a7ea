//! `s3://bucket/key` parsing. A trailing `/` (or no key at all) means "everything under this
//! prefix"; anything else names one object.

use crate::S3Error;

/// A parsed `s3://` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    /// Object key or prefix, without the leading `/`; empty for a whole bucket.
    pub key: String,
}

impl S3Uri {
    /// Parses `s3://bucket[/key]`; errors name the URI.
    pub fn parse(uri: &str) -> Result<Self, S3Error> {
        let invalid = |reason: &str| S3Error::InvalidUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        let rest = uri
            .strip_prefix("s3://")
            .or_else(|| uri.strip_prefix("S3://"))
            .ok_or_else(|| invalid("it does not start with s3://"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("the bucket name is empty"));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// Whether the URI names a prefix (ends with `/` or has no key) rather than one object.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_prefixes() {
        let object = S3Uri::parse("s3://bucket/models/albert_tiny_zh.zip").unwrap();
        assert_eq!(
            (object.bucket.as_str(), object.key.as_str()),
            ("bucket", "models/albert_tiny_zh.zip")
        );
        assert!(!object.is_prefix());
        assert!(S3Uri::parse("s3://bucket/models/").unwrap().is_prefix());
        assert!(S3Uri::parse("s3://bucket").unwrap().is_prefix());
        assert_eq!(
            S3Uri::parse("s3://bucket/a/b/").unwrap().to_string(),
            "s3://bucket/a/b/"
        );
    }

    #[test]
    fn invalid_uris_are_named() {
        for bad in ["https://bucket/key", "bucket/key", "s3:///key", ""] {
            let err = S3Uri::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
