//! What SageMaker tells a serving container through its environment (`docker run IMAGE serve`), and
//! the server's own tuning variables, read once and checked: a bad value stops the server at start
//! with the variable's name, not at the first request.

use std::time::Duration;

use ner_settings::InferencePrecision;

use crate::error::ContractError;

/// The serving settings, from environment variables (each optional).
#[derive(Debug, Clone, PartialEq)]
pub struct ServingEnv {
    /// `SAGEMAKER_BIND_TO_PORT` (8080).
    pub port: u16,
    /// `SAGEMAKER_MAX_PAYLOAD_IN_MB` (6): larger request bodies get 413.
    pub max_payload_mb: u64,
    /// `SAGEMAKER_MODEL_SERVER_TIMEOUT` in seconds (60): a request still unanswered then gets 504.
    pub request_timeout: Duration,
    /// `ALBERT_NER_MAX_BATCH_TOKENS`: padded tokens per forward pass; unset, the server picks by device
    /// (small on a CPU, where padding costs as much as real tokens and large batches fall out of cache).
    pub max_batch_tokens: Option<usize>,
    /// `ALBERT_NER_MAX_BATCH_DELAY_MS` (0): how long a batch waits for more requests to join it. Under load
    /// requests queue while the model runs, so batches form without waiting; a delay only adds latency.
    pub max_batch_delay: Duration,
    /// `ALBERT_NER_MAX_QUEUED_INPUTS` (16384): inputs waiting beyond this get 503 with Retry-After.
    pub max_queued_inputs: usize,
    /// `ALBERT_NER_MAX_CONCURRENT_TRANSFORMS` (8): what `/execution-parameters` tells batch transform.
    pub max_concurrent_transforms: usize,
    /// `ALBERT_NER_THREADS` (all the cores this process may use): libtorch's intra-op threads.
    pub threads: Option<usize>,
    /// `ALBERT_NER_PRECISION` (`auto`): what the model computes in, spelt as `predict --precision`.
    pub precision: InferencePrecision,
}

impl Default for ServingEnv {
    fn default() -> Self {
        Self {
            port: 8080,
            max_payload_mb: 6,
            request_timeout: Duration::from_secs(60),
            max_batch_tokens: None,
            max_batch_delay: Duration::ZERO,
            max_queued_inputs: 16384,
            max_concurrent_transforms: 8,
            threads: None,
            precision: InferencePrecision::Auto,
        }
    }
}

impl ServingEnv {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ContractError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (tests pass a map); an empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ContractError> {
        let mut env = Self::default();
        let get = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        };
        if let Some((name, v)) = get("SAGEMAKER_BIND_TO_PORT") {
            env.port = parse(&v)
                .filter(|&p| p > 0)
                .ok_or_else(|| bad(name, &v, "a TCP port (1-65535)"))?;
        }
        if let Some((name, v)) = get("SAGEMAKER_MAX_PAYLOAD_IN_MB") {
            env.max_payload_mb = positive(name, &v, "a whole number of megabytes ≥ 1")?;
        }
        if let Some((name, v)) = get("SAGEMAKER_MODEL_SERVER_TIMEOUT") {
            env.request_timeout =
                Duration::from_secs(positive(name, &v, "a whole number of seconds ≥ 1")?);
        }
        if let Some((name, v)) = get("ALBERT_NER_MAX_BATCH_TOKENS") {
            env.max_batch_tokens =
                Some(positive(name, &v, "a whole number of tokens ≥ 1")? as usize);
        }
        if let Some((name, v)) = get("ALBERT_NER_MAX_BATCH_DELAY_MS") {
            env.max_batch_delay = Duration::from_millis(
                parse(&v).ok_or_else(|| bad(name, &v, "a whole number of milliseconds"))?,
            );
        }
        if let Some((name, v)) = get("ALBERT_NER_MAX_QUEUED_INPUTS") {
            env.max_queued_inputs = positive(name, &v, "a whole number of inputs ≥ 1")? as usize;
        }
        if let Some((name, v)) = get("ALBERT_NER_MAX_CONCURRENT_TRANSFORMS") {
            env.max_concurrent_transforms = positive(name, &v, "a whole number ≥ 1")? as usize;
        }
        if let Some((name, v)) = get("ALBERT_NER_THREADS") {
            env.threads = Some(positive(name, &v, "a whole number of threads ≥ 1")? as usize);
        }
        if let Some((name, v)) = get("ALBERT_NER_PRECISION") {
            env.precision = v
                .parse()
                .map_err(|source| ContractError::BadEnvironmentChoice { name, source })?;
        }
        Ok(env)
    }

    /// The payload limit in bytes.
    pub fn max_payload_bytes(&self) -> usize {
        (self.max_payload_mb as usize).saturating_mul(1024 * 1024)
    }
}

fn parse<T: std::str::FromStr>(value: &str) -> Option<T> {
    value.trim().parse().ok()
}

fn positive(name: &'static str, value: &str, expected: &'static str) -> Result<u64, ContractError> {
    parse::<u64>(value)
        .filter(|&v| v > 0)
        .ok_or_else(|| bad(name, value, expected))
}

fn bad(name: &'static str, value: &str, expected: &'static str) -> ContractError {
    ContractError::BadEnvironment {
        name,
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<ServingEnv, ContractError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServingEnv::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_sagemakers() {
        let e = env(&[]).unwrap();
        assert_eq!((e.port, e.max_payload_mb), (8080, 6));
        assert_eq!(e.request_timeout, Duration::from_secs(60));
        assert_eq!(
            (e.max_batch_tokens, e.max_batch_delay),
            (None, Duration::ZERO)
        );
        assert_eq!(e.max_payload_bytes(), 6 * 1024 * 1024);
        assert_eq!(env(&[("SAGEMAKER_BIND_TO_PORT", " ")]).unwrap().port, 8080);
    }

    #[test]
    fn values_are_read() {
        let e = env(&[
            ("SAGEMAKER_BIND_TO_PORT", "9090"),
            ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1"),
            ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "5"),
            ("ALBERT_NER_MAX_BATCH_DELAY_MS", "3"),
            ("ALBERT_NER_MAX_BATCH_TOKENS", "2048"),
            ("ALBERT_NER_THREADS", "3"),
            ("ALBERT_NER_PRECISION", "INT8"),
        ])
        .unwrap();
        assert_eq!((e.port, e.max_payload_mb, e.threads), (9090, 1, Some(3)));
        assert_eq!(e.precision, InferencePrecision::Int8);
        assert_eq!(env(&[]).unwrap().precision, InferencePrecision::Auto);
        assert_eq!(e.request_timeout, Duration::from_secs(5));
        assert_eq!(e.max_batch_delay, Duration::from_millis(3));
        assert_eq!(e.max_batch_tokens, Some(2048));
    }

    #[test]
    fn a_bad_value_names_the_variable_and_the_value() {
        for (name, value) in [
            ("SAGEMAKER_BIND_TO_PORT", "0"),
            ("SAGEMAKER_BIND_TO_PORT", "70000"),
            ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "six"),
            ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "-1"),
            ("ALBERT_NER_MAX_QUEUED_INPUTS", "0"),
            ("ALBERT_NER_PRECISION", "fp8"),
        ] {
            let message = env(&[(name, value)]).unwrap_err().to_string();
            assert!(
                message.contains(name) && message.contains(&format!("{value:?}")),
                "{message}"
            );
        }
    }

    #[test]
    fn a_bad_precision_lists_every_spelling() {
        let message = env(&[("ALBERT_NER_PRECISION", "half")])
            .unwrap_err()
            .to_string();
        for spelling in ["auto", "fp32", "int8", "bf16", "bfloat16"] {
            assert!(message.contains(&format!("\"{spelling}\"")), "{message}");
        }
        assert!(message.contains("ALBERT_NER_PRECISION"), "{message}");
    }
}
