//! The `/opt/ml` layout and channel resolution on temporary base directories.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sagemaker_contract::{ContractError, DataChannels, SageMakerPaths};

fn touch(path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, "海 O\n").unwrap();
}

fn setup() -> (tempfile::TempDir, SageMakerPaths) {
    let base = tempfile::tempdir().unwrap();
    let paths = SageMakerPaths::from_base(base.path()).unwrap();
    (base, paths)
}

#[test]
fn layout_under_the_base_dir() {
    let (base, paths) = setup();
    let b = base.path();
    assert_eq!(
        paths.hyperparameters_file,
        b.join("input/config/hyperparameters.json")
    );
    assert_eq!(
        paths.input_data_config_file,
        b.join("input/config/inputdataconfig.json")
    );
    assert_eq!(
        paths.resource_config_file,
        b.join("input/config/resourceconfig.json")
    );
    assert_eq!(
        paths.checkpoint_config_file,
        b.join("input/config/checkpointconfig.json")
    );
    assert_eq!(paths.channel_dir("training"), b.join("input/data/training"));
    assert_eq!(paths.model_dir, b.join("model"));
    assert_eq!(paths.output_data_dir, b.join("output/data"));
    assert_eq!(paths.tensorboard_dir, b.join("output/tensorboard"));
    assert_eq!(paths.failure_file, b.join("output/failure"));
    assert_eq!(paths.checkpoint_dir, b.join("checkpoints"));
    assert_eq!(paths.rebase(Path::new("/opt/ml/model")), b.join("model"));
    assert_eq!(paths.rebase(Path::new("rel/x")), PathBuf::from("rel/x"));
    assert!(
        !b.join("input").exists(),
        "nothing is created by reading the layout"
    );

    paths.create_output_dirs().unwrap();
    assert!(
        paths.model_dir.is_dir() && paths.checkpoint_dir.is_dir() && paths.tensorboard_dir.is_dir()
    );
    assert!(
        !b.join("input").exists(),
        "never creates anything under input/"
    );
}

#[test]
fn from_env_honours_sagemaker_base_dir() {
    // The only test touching the variable, so no other test races on it.
    let base = tempfile::tempdir().unwrap();
    std::env::set_var("SAGEMAKER_BASE_DIR", base.path());
    let paths = SageMakerPaths::from_env().unwrap();
    std::env::remove_var("SAGEMAKER_BASE_DIR");
    assert_eq!(paths.base, base.path());
    let default = SageMakerPaths::from_env().unwrap();
    assert_eq!(default.model_dir, PathBuf::from("/opt/ml/model"));
}

#[test]
fn configs_are_read_when_present() {
    let (base, paths) = setup();
    assert_eq!(paths.resource_config().unwrap(), None);
    let config = base.path().join("input/config");
    fs::create_dir_all(&config).unwrap();
    fs::write(
        config.join("resourceconfig.json"),
        r#"{"current_host":"algo-2","current_instance_type":"ml.g5.xlarge","hosts":["algo-1","algo-2"],"network_interface_name":"eth0","current_group_name":"homogeneousCluster"}"#,
    )
    .unwrap();
    fs::write(
        config.join("checkpointconfig.json"),
        r#"{"LocalPath":"/opt/ml/checkpoints/run","S3Uri":"s3://b/ckpt"}"#,
    )
    .unwrap();
    let paths = SageMakerPaths::from_base(base.path()).unwrap();
    let resource = paths.resource_config().unwrap().unwrap();
    assert_eq!(resource.current_host, "algo-2");
    assert_eq!(resource.hosts, ["algo-1", "algo-2"]);
    assert_eq!(resource.network_interface_name.as_deref(), Some("eth0"));
    assert_eq!(
        paths
            .checkpoint_config()
            .unwrap()
            .unwrap()
            .s3_uri
            .as_deref(),
        Some("s3://b/ckpt")
    );
    assert_eq!(paths.checkpoint_dir, base.path().join("checkpoints/run"));

    fs::write(config.join("inputdataconfig.json"), "{not json").unwrap();
    let text = paths.input_data_config().unwrap_err().to_string();
    assert!(text.contains("inputdataconfig.json"), "{text}");
}

#[test]
fn split_files_in_the_training_channel() {
    let (_base, paths) = setup();
    let training = paths.channel_dir("training");
    for name in ["train.txt", "dev.txt", "test.txt", "README.md", ".hidden"] {
        touch(&training.join(name));
    }
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(channels.train, [training.join("train.txt")]);
    assert_eq!(channels.validation, Some(vec![training.join("dev.txt")]));
    assert_eq!(channels.test, Some(vec![training.join("test.txt")]));
    assert_eq!(channels.pretrained, None);

    // Separate channels win over the named files.
    let validation = paths.channel_dir("validation");
    touch(&validation.join("a/v1.json"));
    touch(&validation.join("v0.json"));
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(
        channels.validation,
        Some(vec![
            validation.join("a/v1.json"),
            validation.join("v0.json")
        ])
    );
    assert_eq!(channels.test, Some(vec![training.join("test.txt")]));
}

#[test]
fn valid_and_val_names_are_validation_splits() {
    let (_base, paths) = setup();
    let training = paths.channel_dir("training");
    for name in ["train.char.bmes", "valid.char.bmes", "val.txt"] {
        touch(&training.join(name));
    }
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(channels.train, [training.join("train.char.bmes")]);
    assert_eq!(
        channels.validation,
        Some(vec![
            training.join("val.txt"),
            training.join("valid.char.bmes")
        ])
    );
    assert_eq!(channels.test, None);
}

#[test]
fn dev_and_test_files_never_leak_into_training() {
    let (_base, paths) = setup();
    let training = paths.channel_dir("training");
    for name in ["msra_bio.txt", "extra/more.txt", "dev.txt", "test.txt"] {
        touch(&training.join(name));
    }
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(
        channels.train,
        [
            training.join("extra/more.txt"),
            training.join("msra_bio.txt")
        ]
    );
    assert_eq!(channels.validation, Some(vec![training.join("dev.txt")]));
    assert_eq!(channels.test, Some(vec![training.join("test.txt")]));
}

#[test]
fn without_split_names_every_file_is_data() {
    let (_base, paths) = setup();
    let training = paths.channel_dir("training");
    for name in [
        "part-2.txt",
        "part-1.txt",
        "sub/part-0.txt",
        ".cache/x",
        "sub/.DS_Store",
    ] {
        touch(&training.join(name));
    }
    touch(&paths.channel_dir("test").join("t.txt"));
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(
        channels.train,
        [
            training.join("part-1.txt"),
            training.join("part-2.txt"),
            training.join("sub/part-0.txt")
        ]
    );
    assert_eq!(channels.validation, None);
    assert_eq!(
        channels.test,
        Some(vec![paths.channel_dir("test").join("t.txt")])
    );
}

#[test]
fn symlink_loops_read_each_file_once() {
    use std::os::unix::fs::symlink;
    let (_base, paths) = setup();
    let training = paths.channel_dir("training");
    touch(&training.join("part-1.txt"));
    touch(&training.join("sub/part-2.txt"));
    // Two loops at once used to hang the walk; one read every file ~41 times.
    symlink(".", training.join("loop")).unwrap();
    symlink("..", training.join("sub/up")).unwrap();
    // A second name for a real file is still one file.
    symlink("part-1.txt", training.join("alias.txt")).unwrap();
    // A dangling link is nothing to read.
    symlink("nowhere", training.join("dangling.txt")).unwrap();
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(channels.train.len(), 2, "{:?}", channels.train);
}

#[test]
fn a_tree_deeper_than_any_channel_is_refused_naming_it() {
    let (_base, paths) = setup();
    let training = paths.channel_dir("training");
    let deep = (0..=sagemaker_contract::MAX_CHANNEL_DEPTH + 1)
        .fold(training.clone(), |p, i| p.join(format!("d{i}")));
    touch(&deep.join("part.txt"));
    let err = DataChannels::resolve(&paths, None).unwrap_err();
    assert!(matches!(err, ContractError::TooDeep { .. }), "{err}");
    assert!(
        err.to_string().contains("input/data/training/d0/d1"),
        "{err}"
    );
}

#[test]
fn a_fifo_in_a_channel_is_refused_saying_what_it_is() {
    let (_base, paths) = setup();
    let training = paths.channel_dir("training");
    touch(&training.join("part-0000.txt"));
    let fifo = training.join("part-0001");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let err = DataChannels::resolve(&paths, None).unwrap_err();
    assert!(matches!(err, ContractError::NotAFile { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("training/part-0001") && message.contains("a FIFO (named pipe)"),
        "{message}"
    );
}

#[test]
fn a_directory_named_like_a_split_file_is_refused() {
    let (_base, paths) = setup();
    let training = paths.channel_dir("training");
    touch(&training.join("train.txt/part-0.txt"));
    touch(&training.join("dev.txt"));
    let err = DataChannels::resolve(&paths, None).unwrap_err();
    assert!(
        matches!(
            err,
            ContractError::SplitIsDirectory {
                split: "training",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("training/train.txt is a directory"),
        "{err}"
    );
}

#[test]
fn missing_or_empty_training_names_the_directory() {
    let (_base, paths) = setup();
    let err = DataChannels::resolve(&paths, None).unwrap_err();
    assert!(matches!(err, ContractError::NoTrainingData { .. }));
    assert!(err
        .to_string()
        .contains(&paths.channel_dir("training").display().to_string()));

    fs::create_dir_all(paths.channel_dir("training").join("empty-sub")).unwrap();
    let err = DataChannels::resolve(&paths, None).unwrap_err();
    assert!(err.to_string().contains("input/data/training"), "{err}");

    touch(&paths.channel_dir("training").join("train.txt"));
    fs::create_dir_all(paths.channel_dir("validation")).unwrap();
    let err = DataChannels::resolve(&paths, None).unwrap_err().to_string();
    assert!(err.contains("`validation`"), "{err}");
}

#[test]
fn data_dir_replaces_the_training_channel() {
    let (base, paths) = setup();
    let elsewhere = base.path().join("elsewhere");
    touch(&elsewhere.join("train.txt"));
    let channels = DataChannels::resolve(&paths, Some(&elsewhere)).unwrap();
    assert_eq!(channels.train, [elsewhere.join("train.txt")]);

    // The article's `/opt/ml/input/data/training` maps onto the base for local runs.
    touch(&paths.channel_dir("training").join("train.txt"));
    let channels =
        DataChannels::resolve(&paths, Some(Path::new("/opt/ml/input/data/training"))).unwrap();
    assert_eq!(
        channels.train,
        [paths.channel_dir("training").join("train.txt")]
    );
}

#[test]
fn pretrained_channel_holds_a_directory_or_a_zip() {
    let (_base, paths) = setup();
    touch(&paths.channel_dir("training").join("train.txt"));
    let pretrained = paths.channel_dir("pretrained");
    touch(&pretrained.join("albert_tiny_zh.zip"));
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(
        channels.pretrained,
        Some(pretrained.join("albert_tiny_zh.zip"))
    );

    fs::remove_file(pretrained.join("albert_tiny_zh.zip")).unwrap();
    touch(&pretrained.join("albert_base_zh/albert_config_base.json"));
    touch(&pretrained.join("albert_base_zh/albert_model.ckpt.index"));
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(channels.pretrained, Some(pretrained.join("albert_base_zh")));
}

#[test]
fn embeddings_channel_holds_one_file() {
    let (_base, paths) = setup();
    touch(&paths.channel_dir("training").join("train.txt"));
    assert_eq!(
        DataChannels::resolve(&paths, None).unwrap().embeddings,
        None
    );
    let channel = paths.channel_dir("embeddings");
    touch(&channel.join("sub/chars.vec"));
    let channels = DataChannels::resolve(&paths, None).unwrap();
    assert_eq!(channels.embeddings, Some(channel.join("sub/chars.vec")));

    touch(&channel.join("other.vec"));
    let err = DataChannels::resolve(&paths, None).unwrap_err().to_string();
    assert!(
        err.contains("`embeddings`") && err.contains("2 files") && err.contains("other.vec"),
        "{err}"
    );
    fs::remove_dir_all(&channel).unwrap();
    fs::create_dir_all(&channel).unwrap();
    let err = DataChannels::resolve(&paths, None).unwrap_err().to_string();
    assert!(err.contains("0 files (none)"), "{err}");
}

#[test]
fn read_only_input_works() {
    let (base, paths) = setup();
    let training = paths.channel_dir("training");
    touch(&training.join("train.txt"));
    touch(&training.join("dev.txt"));
    let input = base.path().join("input");
    let set_mode = |mode| {
        for dir in [&training, &paths.input_data_dir, &input] {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    set_mode(0o555);
    let resolved = DataChannels::resolve(&paths, None);
    let failure = sagemaker_contract::write_failure(&paths, "x");
    set_mode(0o755);
    let channels = resolved.unwrap();
    assert_eq!(channels.train, [training.join("train.txt")]);
    assert_eq!(channels.validation, Some(vec![training.join("dev.txt")]));
    failure.unwrap();
}

#[test]
fn pipe_mode_is_refused() {
    let (base, paths) = setup();
    touch(&paths.channel_dir("training").join("train.txt"));
    let config = base.path().join("input/config/inputdataconfig.json");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(
        &config,
        r#"{"training":{"TrainingInputMode":"File","S3DistributionType":"FullyReplicated","RecordWrapperType":"None"},
            "validation":{"TrainingInputMode":"Pipe"}}"#,
    )
    .unwrap();
    let err = DataChannels::resolve(&paths, None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ContractError::PipeMode { .. }));
    assert!(
        text.contains("`validation`") && text.contains("FastFile"),
        "{text}"
    );

    // FastFile and File are fine.
    fs::write(&config, r#"{"training":{"TrainingInputMode":"FastFile"}}"#).unwrap();
    DataChannels::resolve(&paths, None).unwrap();

    // No config but a `training_0` FIFO, as SageMaker creates in Pipe mode.
    fs::remove_file(&config).unwrap();
    let fifo = paths.input_data_dir.join("training_0");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let text = DataChannels::resolve(&paths, None).unwrap_err().to_string();
    assert!(
        text.contains("`training`") && text.contains("Pipe"),
        "{text}"
    );
}
