//! Decoding one hyperparameter value. SageMaker hands every value over as a string, but how it was
//! encoded depends on the client: SDK 2.x applies Python `str()` (`True`, `2e-05`, `None`, `ner`),
//! SDK 3.x and script-mode tooling apply `json.dumps` (`true`, `2e-05`, `null`, `"ner"` with the
//! quotes). Local runs may even write real JSON numbers and booleans. All of these decode the same.

use std::path::PathBuf;

use ner_settings::Choice;
use serde_json::Value;

use crate::ContractError;

/// One value as found in hyperparameters.json, with the key it belongs to for error messages.
pub(crate) struct Raw<'a> {
    key: &'a str,
    /// The value as the user wrote it, for error messages.
    original: String,
    /// The decoded text; `None` for Python `None` / JSON `null` (meaning "use the default").
    text: Option<String>,
}

impl<'a> Raw<'a> {
    pub(crate) fn new(key: &'a str, value: &Value) -> Self {
        let (original, text) = match value {
            Value::Null => ("null".to_string(), None),
            Value::Bool(b) => (b.to_string(), Some(b.to_string())),
            Value::Number(n) => (n.to_string(), Some(n.to_string())),
            Value::String(s) => (s.clone(), decode_string(s)),
            other => (other.to_string(), Some(other.to_string())),
        };
        Self {
            key,
            original,
            text,
        }
    }

    /// Python `None` or JSON `null`: the default is used.
    pub(crate) fn is_unset(&self) -> bool {
        self.text.is_none()
    }

    /// The value as the user wrote it.
    pub(crate) fn original(&self) -> &str {
        &self.original
    }

    fn bad(&self, expected: &str) -> ContractError {
        ContractError::BadHyperparameter {
            key: self.key.to_string(),
            value: self.original.clone(),
            expected: expected.to_string(),
        }
    }

    /// `true`/`True`/`1`, `false`/`False`/`0`, any case.
    pub(crate) fn bool(&self) -> Result<Option<bool>, ContractError> {
        let Some(text) = &self.text else {
            return Ok(None);
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(self.bad("a boolean (true/false, True/False, 1/0)")),
        }
    }

    /// A whole number ≥ `min`; `64`, `64.0` and `1e3` are all whole numbers.
    pub(crate) fn int(&self, min: u64) -> Result<Option<u64>, ContractError> {
        let Some(text) = &self.text else {
            return Ok(None);
        };
        let expected = || format!("an integer ≥ {min}");
        let value = match text.parse::<i128>() {
            Ok(v) => v,
            Err(_) => match text.parse::<f64>() {
                Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => f as i128,
                _ => return Err(self.bad(&expected())),
            },
        };
        match u64::try_from(value) {
            Ok(v) if v >= min => Ok(Some(v)),
            _ => Err(self.bad(&expected())),
        }
    }

    /// A count that indexes memory, as `usize`.
    pub(crate) fn usize(&self, min: u64) -> Result<Option<usize>, ContractError> {
        match self.int(min)? {
            None => Ok(None),
            Some(v) => usize::try_from(v)
                .map(Some)
                .map_err(|_| self.bad("a smaller integer")),
        }
    }

    /// A finite number within `range` (described in words in `expected` for the error).
    pub(crate) fn float(
        &self,
        accept: impl Fn(f64) -> bool,
        expected: &str,
    ) -> Result<Option<f64>, ContractError> {
        let Some(text) = &self.text else {
            return Ok(None);
        };
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && accept(v) => Ok(Some(v)),
            _ => Err(self.bad(expected)),
        }
    }

    /// Any text; the empty string counts as unset.
    pub(crate) fn string(&self) -> Option<String> {
        self.text.clone().filter(|s| !s.is_empty())
    }

    /// A path, kept as given (relative paths are resolved by the binary against its working dir).
    pub(crate) fn path(&self) -> Option<PathBuf> {
        self.string().map(PathBuf::from)
    }

    /// One of `T`'s spellings (case-insensitive); a bad one is refused listing them.
    pub(crate) fn choice<T: Choice>(&self) -> Result<Option<T>, ContractError> {
        let Some(text) = &self.text else {
            return Ok(None);
        };
        T::parse(text)
            .map(Some)
            .map_err(|_| self.bad(&T::expected()))
    }
}

/// Strips one layer of JSON string quoting (SDK 3.x) and maps `None`/`null` to unset (Python `str`
/// of `None` or JSON of `null`).
fn decode_string(s: &str) -> Option<String> {
    let t = s.trim();
    if t == "None" || t == "null" {
        return None;
    }
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(t) {
            return Some(inner);
        }
    }
    Some(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: Value) -> Raw<'static> {
        Raw::new("k", &v)
    }

    #[test]
    fn booleans_in_every_encoding() {
        for (v, want) in [
            (Value::from("True"), true),
            (Value::from("true"), true),
            (Value::from("\"true\""), true),
            (Value::from("1"), true),
            (Value::from(true), true),
            (Value::from("False"), false),
            (Value::from("false"), false),
            (Value::from("0"), false),
            (Value::from(0), false),
        ] {
            assert_eq!(raw(v.clone()).bool().unwrap(), Some(want), "{v}");
        }
        assert!(raw(Value::from("yes please")).bool().is_err());
        assert_eq!(raw(Value::from("None")).bool().unwrap(), None);
        assert_eq!(raw(Value::Null).bool().unwrap(), None);
    }

    #[test]
    fn integers_in_every_encoding() {
        for (v, want) in [
            (Value::from("64"), 64),
            (Value::from(64), 64),
            (Value::from("1e3"), 1000),
            (Value::from("64.0"), 64),
            (Value::from("\"64\""), 64),
        ] {
            assert_eq!(raw(v.clone()).int(0).unwrap(), Some(want), "{v}");
        }
        assert!(raw(Value::from("2.5")).int(0).is_err());
        assert!(raw(Value::from("-1")).int(0).is_err());
        assert!(raw(Value::from("0")).int(1).is_err());
        assert!(raw(Value::from("abc")).int(0).is_err());
    }

    #[test]
    fn floats_in_every_encoding() {
        let any = |_: f64| true;
        for (v, want) in [
            (Value::from("2e-05"), 2e-5),
            (Value::from(2e-5), 2e-5),
            (Value::from("5e-5"), 5e-5),
            (Value::from("3"), 3.0),
            (Value::from("\"0.1\""), 0.1),
        ] {
            assert_eq!(raw(v.clone()).float(any, "x").unwrap(), Some(want), "{v}");
        }
        assert!(raw(Value::from("nan")).float(any, "x").is_err());
        assert!(raw(Value::from("inf")).float(any, "x").is_err());
        assert!(raw(Value::from("fast")).float(any, "x").is_err());
    }

    #[test]
    fn strings_with_and_without_json_quotes() {
        assert_eq!(raw(Value::from("ner")).string().as_deref(), Some("ner"));
        assert_eq!(raw(Value::from("\"ner\"")).string().as_deref(), Some("ner"));
        assert_eq!(
            raw(Value::from("\"a \\\"b\\\"\"")).string().as_deref(),
            Some("a \"b\"")
        );
        assert_eq!(raw(Value::from("")).string(), None);
        assert_eq!(raw(Value::from("None")).string(), None);
    }

    #[test]
    fn choices_are_case_insensitive() {
        use ner_settings::Head;
        assert_eq!(raw(Value::from("CRF")).choice().unwrap(), Some(Head::Crf));
        assert_eq!(
            raw(Value::from("\"softmax\"")).choice().unwrap(),
            Some(Head::Softmax)
        );
        assert_eq!(raw(Value::Null).choice::<Head>().unwrap(), None);
        let err = raw(Value::from("lstm"))
            .choice::<Head>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"crf\", \"softmax\""), "{err}");
    }
}
