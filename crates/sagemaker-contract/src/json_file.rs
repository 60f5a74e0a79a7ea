//! Reading SageMaker's optional JSON config files: absent is normal (local runs, older platform
//! versions), malformed is an error naming the file.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::ContractError;

/// `Ok(None)` when the file does not exist; an error naming the file when it cannot be parsed.
pub(crate) fn read_optional<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ContractError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ContractError::io("reading", path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ContractError::BadConfig {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}
