//! Copying named tensors into an existing VarStore with strict name and shape checks, shared by the
//! pretrained loaders and `load_model`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use tch::{nn, Kind, Tensor};

use crate::error::{ModelError, Result};

/// Copies tensors into the variables of the same name, then checks every variable selected by
/// `expected` was written. Values are cast to the variable's kind and device (so fp16/bf16 files load
/// into an fp32 store). Returns the names written, sorted.
pub(crate) struct Assigner<'a> {
    vars: HashMap<String, Tensor>,
    file: PathBuf,
    expected: Box<dyn Fn(&str) -> bool + 'a>,
    written: BTreeSet<String>,
}

impl<'a> Assigner<'a> {
    pub(crate) fn new(
        vs: &nn::VarStore,
        file: &Path,
        expected: impl Fn(&str) -> bool + 'a,
    ) -> Self {
        Assigner {
            vars: vs.variables(),
            file: file.to_path_buf(),
            expected: Box::new(expected),
            written: BTreeSet::new(),
        }
    }

    /// Shape the VarStore gives `name`, if it is one of the expected variables.
    pub(crate) fn expected_shape(&self, name: &str) -> Option<Vec<i64>> {
        if (self.expected)(name) {
            self.vars.get(name).map(Tensor::size)
        } else {
            None
        }
    }

    /// The expected variables' names, sorted.
    pub(crate) fn expected_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .vars
            .keys()
            .map(String::as_str)
            .filter(|n| (self.expected)(n))
            .collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn assign(&mut self, name: &str, value: &Tensor) -> Result<()> {
        let Some(expected) = self.expected_shape(name) else {
            return Err(ModelError::UnexpectedTensor {
                file: self.file.clone(),
                tensor: name.to_string(),
                shape: value.size(),
            });
        };
        if value.size() != expected {
            return Err(ModelError::ShapeMismatch {
                file: self.file.clone(),
                tensor: name.to_string(),
                found: value.size(),
                expected,
            });
        }
        if !matches!(
            value.kind(),
            Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double
        ) {
            return Err(ModelError::UnsupportedDtype {
                file: self.file.clone(),
                tensor: name.to_string(),
                dtype: format!("{:?}", value.kind()),
            });
        }
        let mut var = self.vars[name].shallow_clone();
        tch::no_grad(|| var.copy_(&value.to_kind(var.kind()).to_device(var.device())));
        self.written.insert(name.to_string());
        Ok(())
    }

    /// Errors on the first expected variable (in name order) nothing was written to.
    pub(crate) fn finish(self) -> Result<Vec<String>> {
        let mut names: Vec<&String> = self.vars.keys().filter(|n| (self.expected)(n)).collect();
        names.sort();
        for n in names {
            if !self.written.contains(n) {
                return Err(ModelError::MissingTensor {
                    file: self.file.clone(),
                    tensor: n.clone(),
                    expected: self.vars[n].size(),
                });
            }
        }
        Ok(self.written.into_iter().collect())
    }
}
