//! s3-fetch
