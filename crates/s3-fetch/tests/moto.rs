//! Downloads against a real S3-compatible server: moto, started on loopback by the test. Requires
//! moto (`make test` installs it into the repository's .venv); a missing moto fails the test rather
//! than skipping it, so CI cannot pass without exercising the SDK.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use s3_fetch::{download, S3Error};

/// Kills moto when the test ends, however it ends.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_path() -> PathBuf {
    match std::env::var_os("ALBERT_NER_MOTO") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"),
    }
}

fn start_moto() -> (Moto, u16) {
    let path = moto_path();
    assert!(
        path.exists(),
        "moto_server not found at {} (run `make venv`, or set ALBERT_NER_MOTO)",
        path.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&path)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not answer on port {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, port)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One test, so the process-wide AWS environment is set once and one moto serves every case.
#[test]
fn downloads_from_an_s3_compatible_server() {
    let (_moto, port) = start_moto();
    // Fake credentials, a region, the endpoint, and no instance-metadata lookups.
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));

    let objects: &[(&str, &[u8])] = &[
        ("models/albert_tiny_zh.zip", b"PK\x03\x04 not really a zip"),
        (
            "models/albert_base_zh/albert_config.json",
            br#"{"hidden_size": 768}"#,
        ),
        ("models/albert_base_zh/vocab.txt", "[PAD]\n海\n".as_bytes()),
        ("models/albert_base_zh/ckpt/model.ckpt.index", b"\x00\x01"),
        ("models/albert_base_zh/empty-folder/", b""),
    ];
    runtime().block_on(async {
        let client = s3_fetch::client().await;
        client
            .create_bucket()
            .bucket("ner")
            .send()
            .await
            .expect("create bucket");
        for (key, body) in objects {
            client
                .put_object()
                .bucket("ner")
                .key(*key)
                .body(ByteStream::from(body.to_vec()))
                .send()
                .await
                .expect("put object");
        }
        // Enough objects to need more than one page of ListObjectsV2 (1000 keys per page).
        for i in 0..1005 {
            client
                .put_object()
                .bucket("ner")
                .key(format!("many/part-{i:04}.txt"))
                .body(ByteStream::from(i.to_string().into_bytes()))
                .send()
                .await
                .expect("put object");
        }
    });

    // One object.
    let dest = tempfile::tempdir().unwrap();
    let file = download("s3://ner/models/albert_tiny_zh.zip", dest.path()).unwrap();
    assert_eq!(file, dest.path().join("albert_tiny_zh.zip"));
    assert_eq!(std::fs::read(&file).unwrap(), objects[0].1);

    // A prefix keeps paths relative to it, skips folder markers, leaves no temporary files.
    let dest = tempfile::tempdir().unwrap();
    let dir = download("s3://ner/models/albert_base_zh/", dest.path()).unwrap();
    assert_eq!(dir, dest.path());
    assert_eq!(
        std::fs::read(dest.path().join("vocab.txt")).unwrap(),
        objects[2].1
    );
    assert_eq!(
        std::fs::read(dest.path().join("ckpt/model.ckpt.index")).unwrap(),
        objects[3].1
    );
    let mut names: Vec<String> = walk(dest.path());
    names.sort();
    assert_eq!(
        names,
        ["albert_config.json", "ckpt/model.ckpt.index", "vocab.txt"]
    );

    // The same prefix without the trailing slash.
    let dest = tempfile::tempdir().unwrap();
    download("s3://ner/models/albert_base_zh", dest.path()).unwrap();
    assert!(dest.path().join("ckpt/model.ckpt.index").is_file());

    // Pagination.
    let dest = tempfile::tempdir().unwrap();
    download("s3://ner/many/", dest.path()).unwrap();
    assert_eq!(walk(dest.path()).len(), 1005);
    assert_eq!(
        std::fs::read_to_string(dest.path().join("part-1004.txt")).unwrap(),
        "1004"
    );

    // Errors name the URI and S3's code.
    let dest = tempfile::tempdir().unwrap();
    let err = download("s3://no-such-bucket/x.zip", dest.path()).unwrap_err();
    assert_eq!(err.code(), Some("NoSuchBucket"), "{err}");
    assert!(
        err.to_string().contains("s3://no-such-bucket/x.zip"),
        "{err}"
    );

    let err = download("s3://ner/models/missing.zip", dest.path()).unwrap_err();
    assert_eq!(err.code(), Some("NoSuchKey"), "{err}");
    assert!(
        err.to_string().contains("s3://ner/models/missing.zip"),
        "{err}"
    );

    let err = download("s3://ner/nothing-here/", dest.path()).unwrap_err();
    assert!(matches!(err, S3Error::NoObjects { .. }), "{err}");
    assert!(err.to_string().contains("s3://ner/nothing-here/"), "{err}");

    let err = download("https://ner/x", dest.path()).unwrap_err();
    assert!(matches!(err, S3Error::InvalidUri { .. }), "{err}");
    assert_eq!(
        walk(dest.path()).len(),
        0,
        "failed downloads leave nothing behind"
    );
}

/// Paths of all files under `root`, relative to it.
fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out
}
