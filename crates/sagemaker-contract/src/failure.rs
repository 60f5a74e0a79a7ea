//! The `output/failure` file. SageMaker copies its text into the job's `FailureReason`, which is
//! what a user sees first in the console and in `DescribeTrainingJob`; that field is capped, so the
//! text leads with the cause and is cut to [`MAX_FAILURE_BYTES`].

use std::error::Error;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{ContractError, SageMakerPaths};

/// Longest failure text written, in bytes (SageMaker's `FailureReason` limit).
pub const MAX_FAILURE_BYTES: usize = 1024;

const ELLIPSIS: &str = "…";

/// Writes `message` to `output/failure`, creating `output/` if needed, cut to
/// [`MAX_FAILURE_BYTES`] on a character boundary (with `…` marking the cut). The file is written to
/// a temporary name and renamed, so SageMaker never uploads half a message.
pub fn write_failure(paths: &SageMakerPaths, message: &str) -> Result<PathBuf, ContractError> {
    let target = &paths.failure_file;
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ContractError::io("creating", dir, e))?;
    let temp = dir.join(format!(".failure.{}.tmp", std::process::id()));
    let text = truncate(message, MAX_FAILURE_BYTES);
    let written = std::fs::File::create(&temp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(ContractError::io("writing", &temp, e));
    }
    std::fs::rename(&temp, target).map_err(|e| ContractError::io("renaming into", target, e))?;
    Ok(target.clone())
}

/// `text` if it fits in `max` bytes, else its longest prefix that, with `…`, does.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// An error chain laid out for the failure file: the root cause on the first line, then each
/// context it happened in, innermost first. Works with `anyhow` (pass `err.chain()`) without this
/// crate depending on it.
///
/// A bare OS or parse message ("Permission denied (os error 13)") tells a user nothing of where,
/// so the first line is the innermost message that still ends with the root cause (typically
/// "writing /opt/ml/model/x: Permission denied"), and when even that names no path, the innermost
/// context that does is put in front of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReport {
    cause: String,
    contexts: Vec<String>,
}

impl FailureReport {
    /// From messages ordered outermost first, as `anyhow::Error::chain()` yields them.
    pub fn from_chain<I, D>(chain: I) -> Self
    where
        I: IntoIterator<Item = D>,
        D: fmt::Display,
    {
        let mut messages: Vec<String> = chain.into_iter().map(|m| m.to_string()).collect();
        let mut cause = messages
            .pop()
            .unwrap_or_else(|| "unknown error".to_string());
        // Outer messages that only add a prefix to the cause become the cause.
        while messages
            .last()
            .is_some_and(|outer| outer.ends_with(cause.as_str()))
        {
            cause = messages.pop().expect("checked above");
        }
        if !names_a_path(&cause) {
            if let Some(i) = messages.iter().rposition(|m| names_a_path(m)) {
                let context = messages.remove(i);
                cause = format!("{context}: {cause}");
            }
        }
        let mut contexts = Vec::with_capacity(messages.len());
        let mut inner = cause.clone();
        for outer in messages.into_iter().rev() {
            // thiserror-style messages often repeat their source after ": "; say it once.
            let trimmed = outer
                .strip_suffix(inner.as_str())
                .and_then(|s| s.strip_suffix(": "));
            let line = trimmed
                .filter(|t| !t.is_empty())
                .map_or(outer.clone(), str::to_string);
            contexts.push(line);
            inner = outer;
        }
        Self { cause, contexts }
    }

    /// From any error, following `source()`.
    pub fn from_error(err: &(dyn Error + 'static)) -> Self {
        let mut chain: Vec<String> = vec![err.to_string()];
        let mut next = err.source();
        while let Some(e) = next {
            chain.push(e.to_string());
            next = e.source();
        }
        Self::from_chain(chain)
    }

    /// The root cause alone.
    pub fn cause(&self) -> &str {
        &self.cause
    }
}

/// Whether a message mentions a file or directory (an absolute or relative path with a slash).
fn names_a_path(message: &str) -> bool {
    message.contains('/')
}

/// Each message on one line: its line breaks and other control characters escaped (a file name
/// may hold a newline, which would otherwise push the rest of the cause off the first line).
impl fmt::Display for FailureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&one_line(&self.cause))?;
        for context in &self.contexts {
            write!(f, "\ncontext: {}", one_line(context))?;
        }
        Ok(())
    }
}

/// `text` with control characters escaped as Rust writes them (`\n`, `\u{1b}`).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_a_line_break_keeps_the_cause_on_the_first_line() {
        let report = FailureReport::from_chain([
            "reading the training channel",
            "/opt/ml/input/data/training/a\nb.txt:2: malformed line \"x\": no tag",
        ]);
        let text = report.to_string();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            "/opt/ml/input/data/training/a\\nb.txt:2: malformed line \"x\": no tag"
        );
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.ends_with("context: reading the training channel"));
    }

    #[test]
    fn truncates_on_char_boundaries() {
        // 3-byte characters straddling the limit at every offset.
        for pad in 0..4 {
            let text = format!("{}{}", "a".repeat(pad), "实体识别".repeat(400));
            let cut = truncate(&text, MAX_FAILURE_BYTES);
            assert!(cut.len() <= MAX_FAILURE_BYTES, "pad {pad}: {}", cut.len());
            assert!(
                cut.len() > MAX_FAILURE_BYTES - 6,
                "pad {pad}: {}",
                cut.len()
            );
            assert!(cut.ends_with(ELLIPSIS));
            assert!(text.starts_with(cut.trim_end_matches(ELLIPSIS)));
        }
        let exact = "界".repeat(MAX_FAILURE_BYTES / 3) + "a";
        assert_eq!(exact.len(), MAX_FAILURE_BYTES);
        assert_eq!(truncate(&exact, MAX_FAILURE_BYTES), exact);
    }

    #[test]
    fn report_puts_the_cause_first() {
        let report = FailureReport::from_chain([
            "loading pretrained weights",
            "reading /w/model.ckpt.index: No such file",
            "No such file",
        ]);
        assert_eq!(
            report.to_string(),
            "reading /w/model.ckpt.index: No such file\ncontext: loading pretrained weights"
        );
        assert_eq!(
            report.cause(),
            "reading /w/model.ckpt.index: No such file",
            "the cause's line names the path"
        );
    }

    #[test]
    fn a_bare_os_message_is_led_by_the_path_it_happened_at() {
        let report = FailureReport::from_chain([
            "saving results",
            "writing /opt/ml/model/metrics.json",
            "Permission denied (os error 13)",
        ]);
        assert_eq!(
            report.to_string(),
            "writing /opt/ml/model/metrics.json: Permission denied (os error 13)\ncontext: saving results"
        );
        // Already whole: unchanged.
        let whole =
            FailureReport::from_chain(["no training data: /opt/ml/input/data/training is missing"]);
        assert_eq!(
            whole.to_string(),
            "no training data: /opt/ml/input/data/training is missing"
        );
    }
}
