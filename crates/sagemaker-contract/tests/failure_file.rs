//! The `output/failure` file as SageMaker reads it.

use std::fs;

use sagemaker_contract::{write_failure, FailureReport, SageMakerPaths, MAX_FAILURE_BYTES};

#[test]
fn writes_the_failure_file_creating_output() {
    let base = tempfile::tempdir().unwrap();
    let paths = SageMakerPaths::from_base(base.path()).unwrap();
    let written = write_failure(&paths, "训练数据缺失\ncontext: reading train.txt").unwrap();
    assert_eq!(written, base.path().join("output/failure"));
    assert_eq!(
        fs::read_to_string(&written).unwrap(),
        "训练数据缺失\ncontext: reading train.txt"
    );
    // Overwrites, and leaves no temporary file behind.
    write_failure(&paths, "second").unwrap();
    assert_eq!(fs::read_to_string(&written).unwrap(), "second");
    assert_eq!(fs::read_dir(base.path().join("output")).unwrap().count(), 1);
}

#[test]
fn multibyte_messages_around_the_limit_are_cut_on_char_boundaries() {
    let base = tempfile::tempdir().unwrap();
    let paths = SageMakerPaths::from_base(base.path()).unwrap();
    // 1020..1030 bytes: ASCII padding then 3- and 4-byte characters across byte 1024.
    for len in 1015..1035 {
        let mut message = String::from("标注文件格式错误: ");
        while message.len() < len {
            message.push(if message.len() % 2 == 0 {
                '实'
            } else {
                '😀'
            });
        }
        write_failure(&paths, &message).unwrap();
        let bytes = fs::read(&paths.failure_file).unwrap();
        assert!(bytes.len() <= MAX_FAILURE_BYTES, "{len}: {}", bytes.len());
        let text = String::from_utf8(bytes).expect("valid UTF-8");
        if message.len() <= MAX_FAILURE_BYTES {
            assert_eq!(text, message);
        } else {
            assert!(text.ends_with('…'));
            assert!(message.starts_with(text.trim_end_matches('…')));
        }
    }
}

#[test]
fn anyhow_chain_puts_the_cause_with_its_path_first() {
    let io = std::io::Error::new(std::io::ErrorKind::NotFound, "没有那个文件或目录");
    let err = anyhow::Error::new(io)
        .context("reading vocab file albert_config/vocab.txt")
        .context("building the tokenizer");
    let report = FailureReport::from_chain(err.chain());
    assert_eq!(
        report.to_string(),
        "reading vocab file albert_config/vocab.txt: 没有那个文件或目录\ncontext: building the tokenizer",
        "the OS message is led by the path it concerns"
    );

    let err = sagemaker_contract::ContractError::NoTrainingData {
        dir: "/opt/ml/input/data/training".into(),
    };
    let report = FailureReport::from_error(&err);
    assert!(report
        .cause()
        .starts_with("no training data: /opt/ml/input/data/training"));
}
