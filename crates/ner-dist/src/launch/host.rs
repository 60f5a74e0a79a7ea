//! The host name failures report.

/// Set in a worker that an `Agent` started: the host name its failures report.
pub(super) const WORKER_HOST_ENV: &str = "ALBERT_NER_HOST";

/// This machine's name for messages outside SageMaker.
pub(super) fn current_host() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())
}
