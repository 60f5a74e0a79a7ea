//! The HTTP side: parse and check a request, queue its texts, wait (bounded by the timeout), format.
//! Every refusal is an [`ApiError`]; every request leaves one log line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use tracing::{debug, info};

use crate::api_error::ApiError;
use crate::batcher::{Batcher, Refusal};
use crate::formats::{self, Format};

/// What every handler shares.
pub struct AppState {
    pub batcher: Batcher,
    pub max_payload_bytes: usize,
    pub request_timeout: Duration,
    pub max_concurrent_transforms: usize,
}

/// The server's routes, with the per-request log line around them.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocations))
        .route("/execution-parameters", get(execution_parameters))
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Healthy: the server listens only once the model is loaded and a warm-up inference has passed.
async fn ping() -> StatusCode {
    StatusCode::OK
}

/// What batch transform asks before it sends records.
async fn execution_parameters(State(state): State<Arc<AppState>>) -> Response {
    let mb = state.max_payload_bytes / (1024 * 1024);
    let body = json!({
        "MaxConcurrentTransforms": state.max_concurrent_transforms,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": mb,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {}: use GET /ping, POST /invocations or GET /execution-parameters",
            request.method(),
            request.uri().path()
        ),
    )
}

/// How much a request asked for, for its log line.
#[derive(Debug, Clone, Copy, Default)]
struct Work {
    inputs: usize,
    chars: usize,
}

async fn invocations(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let mut work = Work::default();
    let mut response = match tag(&state, &parts.headers, body, started, &mut work).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(work);
    response
}

async fn tag(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
    work: &mut Work,
) -> Result<Response, ApiError> {
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    let input = Format::of_content_type(header_text(header::CONTENT_TYPE))?;
    let output = Format::of_accept(header_text(header::ACCEPT), input)?;
    let bytes = read_body(body, headers, state.max_payload_bytes).await?;
    let inputs = formats::parse(input, &bytes)?;
    *work = Work {
        inputs: inputs.texts.len(),
        chars: inputs.chars(),
    };
    formats::check_answerable(output, &inputs)?;
    let mut pending = state
        .batcher
        .submit(inputs.texts, formats::needs_scores(output))
        .map_err(refused)?;
    let remaining = state.request_timeout.saturating_sub(started.elapsed());
    let tagged = match tokio::time::timeout(remaining, &mut pending.answer).await {
        Err(_) => {
            pending.abandon();
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "not answered within the server timeout ({} s, SAGEMAKER_MODEL_SERVER_TIMEOUT): \
                     send fewer or shorter inputs per request",
                    state.request_timeout.as_secs()
                ),
            ));
        }
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the inference thread stopped before answering",
            ))
        }
        Ok(Ok(answer)) => {
            answer.map_err(|m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m))?
        }
    };
    let body = formats::render(output, inputs.single, &tagged);
    Ok(([(header::CONTENT_TYPE, output.media_type())], body).into_response())
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Full { queued, capacity } => ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server is busy ({queued} of {capacity} inputs queued); retry after 1 s"
                ),
            )
        },
        Refusal::TooLarge { inputs, capacity } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{inputs} inputs in one request; this server queues at most {capacity} \
                 (ALBERT_NER_MAX_QUEUED_INPUTS): split the request"
            ),
        ),
        Refusal::Stopped => ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            )
        },
    }
}

/// The whole body, refusing (413) one larger than the limit, whether or not it declared its length.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than {} MB (SAGEMAKER_MAX_PAYLOAD_IN_MB)",
                limit / (1024 * 1024)
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the body failed: {e}"
        ))),
    }
}

/// One line per request: path, status, inputs, characters, latency. `/ping` (every few seconds from
/// SageMaker) logs at debug level.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let work = response
        .extensions()
        .get::<Work>()
        .copied()
        .unwrap_or_default();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    if path == "/ping" {
        debug!("request: path={path} status={status} latency_ms={ms:.1}");
    } else {
        info!(
            "request: path={path} status={status} inputs={} chars={} latency_ms={ms:.1}",
            work.inputs, work.chars
        );
    }
    response
}
