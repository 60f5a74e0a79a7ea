//! Where the pretrained weights come from. Three ways to give them exist (the `pretrained`
//! channel, `init_checkpoint` from the replaced system, `pretrained_model_uri`); giving two is
//! refused, because silently preferring one would train from weights the user did not mean.

use std::path::PathBuf;

use crate::{ContractError, DataChannels, Hyperparameters, SageMakerPaths};

/// The one source of pretrained weights of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PretrainedSource {
    /// A directory, TF checkpoint prefix or zip on local disk (relative paths as given).
    Local(PathBuf),
    /// An `s3://` URI to download before loading.
    S3(String),
}

impl PretrainedSource {
    /// The source for this job, `None` when training starts from random weights.
    pub fn resolve(
        paths: &SageMakerPaths,
        hyperparameters: &Hyperparameters,
        channels: &DataChannels,
    ) -> Result<Option<Self>, ContractError> {
        let mut given: Vec<(String, PretrainedSource)> = Vec::new();
        if let Some(dir) = &channels.pretrained {
            given.push((
                "the `pretrained` channel".into(),
                PretrainedSource::Local(dir.clone()),
            ));
        }
        if let Some(path) = &hyperparameters.init_checkpoint {
            given.push((
                "`init_checkpoint`".into(),
                PretrainedSource::Local(paths.rebase(path)),
            ));
        }
        if let Some(uri) = &hyperparameters.pretrained_model_uri {
            let source = if uri.starts_with("s3://") || uri.starts_with("S3://") {
                PretrainedSource::S3(uri.clone())
            } else {
                PretrainedSource::Local(paths.rebase(uri.as_ref()))
            };
            given.push(("`pretrained_model_uri`".into(), source));
        }
        match given.len() {
            0 => Ok(None),
            1 => Ok(given.pop().map(|(_, source)| source)),
            _ => Err(ContractError::ConflictingPretrained {
                first: given[0].0.clone(),
                second: given[1].0.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(init: Option<&str>, uri: Option<&str>) -> Hyperparameters {
        Hyperparameters {
            init_checkpoint: init.map(PathBuf::from),
            pretrained_model_uri: uri.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn exactly_one_source() {
        let paths = SageMakerPaths::from_base("/base").unwrap();
        let none = DataChannels::default();
        let channel = DataChannels {
            pretrained: Some("/base/input/data/pretrained".into()),
            ..Default::default()
        };
        assert_eq!(
            PretrainedSource::resolve(&paths, &hp(None, None), &none).unwrap(),
            None
        );
        assert_eq!(
            PretrainedSource::resolve(&paths, &hp(None, None), &channel).unwrap(),
            Some(PretrainedSource::Local(
                "/base/input/data/pretrained".into()
            ))
        );
        assert_eq!(
            PretrainedSource::resolve(
                &paths,
                &hp(Some("albert_tiny_zh/albert_model.ckpt"), None),
                &none
            )
            .unwrap(),
            Some(PretrainedSource::Local(
                "albert_tiny_zh/albert_model.ckpt".into()
            ))
        );
        assert_eq!(
            PretrainedSource::resolve(&paths, &hp(None, Some("s3://b/albert.zip")), &none).unwrap(),
            Some(PretrainedSource::S3("s3://b/albert.zip".into()))
        );
        assert_eq!(
            PretrainedSource::resolve(&paths, &hp(None, Some("/opt/ml/w")), &none).unwrap(),
            Some(PretrainedSource::Local("/base/w".into()))
        );
        let err = PretrainedSource::resolve(&paths, &hp(Some("x"), None), &channel)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`pretrained` channel") && err.contains("`init_checkpoint`"),
            "{err}"
        );
    }
}
