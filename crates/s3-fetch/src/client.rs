//! The S3 client: the SDK's default credential chain and region chain, the SDK's own endpoint
//! overrides (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`), over rustls with ring.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// Region used when neither the environment, the profile nor instance metadata names one; S3
/// answers bucket-region mismatches with a redirect error that names the right region.
const FALLBACK_REGION: &str = "us-east-1";

/// Overrides path-style addressing: `1`/`true` forces it, `0`/`false` forbids it.
pub const PATH_STYLE_ENV: &str = "ALBERT_NER_S3_PATH_STYLE";

/// A client configured from the environment as every AWS SDK is. Path-style addressing is used
/// when an endpoint override is set: those point at S3-compatible servers (MinIO, moto,
/// LocalStack) that rarely serve virtual-hosted bucket names; [`PATH_STYLE_ENV`] overrides.
pub async fn client() -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared);
    if shared.region().is_none() {
        config = config.region(Region::new(FALLBACK_REGION));
    }
    if path_style() {
        config = config.force_path_style(true);
    }
    Client::from_conf(config.build())
}

fn path_style() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    match std::env::var(PATH_STYLE_ENV)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Ok("1" | "true") => true,
        Ok("0" | "false") => false,
        _ => set("AWS_ENDPOINT_URL_S3") || set("AWS_ENDPOINT_URL"),
    }
}
