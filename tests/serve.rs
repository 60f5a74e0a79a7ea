//! `serve` as SageMaker runs it, over real HTTP on loopback, on a model trained by `train`: every
//! content type and `Accept`, every refusal (400, 413, 415, 406, 404, 503, 504) with the server still
//! answering afterwards, concurrent requests each getting their own answer, the same tags as
//! `predict`, SIGTERM's drain, and a model directory that cannot be served.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{check, free_port, trained_micro_tagger};
use serde_json::Value;

/// One micro model for every test of this file, trained once into Cargo's scratch directory.
fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let job = trained_micro_tagger("3");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-model");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(job.base().join("model")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        dir
    })
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The JSON error body's message, after checking its shape.
    fn error(&self) -> String {
        let v = self.json();
        assert_eq!(v["code"], self.status, "{}", self.body);
        v["error"].as_str().unwrap().to_string()
    }
}

/// One HTTP/1.1 request on its own connection.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A refused body may be answered (and the connection closed) before it is all sent.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn post(port: u16, content_type: &str, accept: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(a) = accept {
        headers.push(("Accept", a));
    }
    http(port, "POST", "/invocations", &headers, body.as_bytes())
}

/// A running `serve`, its log collected; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `serve` on `dir` and waits until `/ping` answers 200.
    fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut server = Self::spawn(dir, env);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!(
                    "serve exited ({status}) before answering /ping:\n{}",
                    server.log()
                );
            }
            if TcpStream::connect(("127.0.0.1", server.port)).is_ok()
                && http(server.port, "GET", "/ping", &[], b"").status == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "no /ping 200 within 60 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn spawn(dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
            .args(["--model-dir", dir.to_str().unwrap(), "--device", "cpu"])
            .env("SAGEMAKER_BIND_TO_PORT", port.to_string())
            .env("ALBERT_NER_THREADS", "1")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        Self { child, port, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once it holds `needle` (a request's line is written after its answer is sent, so a
    /// client can read the answer before the line exists), or as it is after `limit`.
    fn log_with(&self, needle: &str, limit: Duration) -> String {
        self.log_with_n(needle, 1, limit)
    }

    /// The log once it holds `needle` `n` times, or as it is after `limit`.
    fn log_with_n(&self, needle: &str, n: usize, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= n || Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the inference thread starts one more batch of `inputs` inputs than the log
    /// showed before: the request sent is read, queued and being tagged.
    fn await_batch_start(&self, inputs: usize, before: usize) {
        let line = format!("batch: start requests=1 inputs={inputs}");
        let log = self.log_with_n(&line, before + 1, Duration::from_secs(30));
        assert!(
            log.matches(&line).count() > before,
            "no batch started: {log}"
        );
    }

    /// How many batches of `inputs` inputs the log shows started.
    fn batches_started(&self, inputs: usize) -> usize {
        let line = format!("batch: start requests=1 inputs={inputs}");
        self.log().matches(&line).count()
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end; its exit status.
    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SENTENCES: [&str; 3] = [
    "中国人民银行行长易纲在北京表示。",
    "张三去了上海。",
    "Apple iPhone 15 发布于 2023 年。",
];

/// `char TAG` blocks of a text/plain answer, as (char, tag) pairs per input.
fn blocks(body: &str) -> Vec<Vec<(String, String)>> {
    body.split("\n\n")
        .filter(|b| !b.is_empty())
        .map(|b| {
            b.lines()
                .map(|l| {
                    let (c, t) = l.rsplit_once(' ').unwrap();
                    (c.to_string(), t.to_string())
                })
                .collect()
        })
        .collect()
}

/// Equal JSON, except that scores may differ by float rounding (another batch pads differently).
fn assert_same_entities(a: &Value, b: &Value) {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{a} vs {b}");
            x.iter()
                .zip(y)
                .for_each(|(x, y)| assert_same_entities(x, y));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{a} vs {b}"
            );
            for (k, v) in x {
                if k == "score" {
                    let (p, q) = (v.as_f64().unwrap(), y[k].as_f64().unwrap());
                    assert!((p - q).abs() < 1e-4, "{a} vs {b}");
                } else {
                    assert_same_entities(v, &y[k]);
                }
            }
        }
        _ => assert_eq!(a, b),
    }
}

#[test]
fn every_format_answers_and_agrees_with_predict() {
    let dir = model_dir();
    // fp32 in both: int8 (what `auto` picks on a CPU) quantizes each forward pass's input with that
    // pass's own range, so serve's batches and predict's can differ slightly (README, "Inference
    // precision").
    let server = Server::start(dir, &[("ALBERT_NER_PRECISION", "fp32")]);
    let port = server.port;
    let ping = http(port, "GET", "/ping", &[], b"");
    assert_eq!((ping.status, ping.body.as_str()), (200, ""));

    let params = http(port, "GET", "/execution-parameters", &[], b"");
    assert_eq!(params.status, 200);
    let p = params.json();
    assert_eq!(p["BatchStrategy"], "MULTI_RECORD");
    assert_eq!(p["MaxPayloadInMB"], 6);
    assert!(p["MaxConcurrentTransforms"].as_u64().unwrap() >= 1);

    // text/plain in and out: one `char TAG` line per character, the tags `predict` gives.
    let long = SENTENCES[0].repeat(9); // far past max_seq_length 32: windowed, not truncated
    let texts = [SENTENCES[0], SENTENCES[1], SENTENCES[2], long.as_str()];
    let text_reply = post(port, "text/plain", None, &(texts.join("\n") + "\n"));
    assert_eq!(text_reply.status, 200, "{}", text_reply.body);
    assert!(text_reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let tagged = blocks(&text_reply.body);
    assert_eq!(tagged.len(), texts.len());
    for (block, text) in tagged.iter().zip(texts) {
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let got: Vec<String> = block.iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(got, chars, "one line per character of {text:?}");
    }
    let predicted = common::run_predict(
        dir,
        &["--format", "bio", "--device", "cpu", "--precision", "fp32"],
        &(texts.join("\n") + "\n"),
    );
    check(&predicted, predicted.status.success(), "predict");
    assert_eq!(
        blocks(&String::from_utf8(predicted.stdout).unwrap()),
        tagged,
        "serve and predict tag alike"
    );

    // JSON lines in, JSON lines out: one line per input line, entities consistent with the tags.
    let jsonl_body = format!(
        "{}\n\"{}\"\n{}\n",
        serde_json::json!({"text": texts[0]}),
        texts[1],
        serde_json::json!({"text": texts[3]})
    );
    let jsonl = post(port, "application/jsonlines", None, &jsonl_body);
    assert_eq!(jsonl.status, 200, "{}", jsonl.body);
    assert_eq!(jsonl.header("content-type"), Some("application/jsonlines"));
    let lines: Vec<Value> = jsonl
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (line, block) in lines.iter().zip([&tagged[0], &tagged[1], &tagged[3]]) {
        let text: Vec<char> = line["text"].as_str().unwrap().chars().collect();
        assert_eq!(text.len(), block.len());
        let b_tags = block.iter().filter(|(_, t)| t.starts_with("B-")).count();
        let entities = line["entities"].as_array().unwrap();
        assert!(
            entities.len() >= b_tags,
            "every B- starts an entity: {line}"
        );
        for e in entities {
            let (s, t) = (
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(
                e["text"].as_str().unwrap(),
                text[s..t].iter().collect::<String>()
            );
            assert!(
                block[s].1.ends_with(e["type"].as_str().unwrap()),
                "{e} vs {:?}",
                block[s]
            );
            let score = e["score"].as_f64().unwrap();
            assert!(score > 0.0 && score <= 1.0 + 1e-6, "{e}");
        }
    }
    // The trained micro model finds some entity in these sentences, so the checks above ran.
    assert!(lines
        .iter()
        .any(|l| !l["entities"].as_array().unwrap().is_empty()));

    // JSON: a single string answers a list of entities, a list answers a list of lists; Accept
    // chooses another format for the same input.
    let single = post(
        port,
        "application/json",
        None,
        &serde_json::json!({"inputs": texts[0]}).to_string(),
    );
    assert_eq!(single.status, 200, "{}", single.body);
    assert_same_entities(&single.json(), &lines[0]["entities"]);
    let list = post(
        port,
        "application/json; charset=utf-8",
        Some("application/json"),
        &serde_json::json!({"inputs": [texts[0], texts[1]]}).to_string(),
    );
    assert_same_entities(
        &list.json(),
        &serde_json::json!([lines[0]["entities"], lines[1]["entities"]]),
    );
    let as_text = post(
        port,
        "application/json",
        Some("text/plain"),
        &serde_json::json!({"inputs": [texts[1]]}).to_string(),
    );
    assert_eq!(blocks(&as_text.body), vec![tagged[1].clone()]);
    let as_lines = post(port, "text/plain", Some("application/jsonlines"), texts[0]);
    assert_same_entities(
        &serde_json::from_str::<Value>(as_lines.body.trim()).unwrap(),
        &lines[0],
    );

    let request_line = "request: path=/invocations status=200 inputs=2 chars=";
    let log = server.log_with(request_line, Duration::from_secs(10));
    assert!(
        log.contains("serve: model ") && log.contains("labels [") && log.contains("threads 1"),
        "{log}"
    );
    assert!(
        log.contains(request_line),
        "one log line per request: {log}"
    );
}

#[test]
fn bad_requests_get_a_4xx_naming_the_problem_and_the_server_keeps_serving() {
    let server = Server::start(model_dir(), &[("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1")]);
    let port = server.port;
    let refused = |reply: Reply, status: u16, says: &str| {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let message = reply.error();
        assert!(message.contains(says), "{message:?} should say {says:?}");
    };
    let json = "application/json";
    refused(
        http(
            port,
            "POST",
            "/invocations",
            &[("Content-Type", "text/plain")],
            b"ok\n\xff\xfe",
        ),
        400,
        "not UTF-8",
    );
    refused(
        post(port, json, None, "{\"inputs\": [\"a\""),
        400,
        "not valid JSON",
    );
    refused(post(port, json, None, ""), 400, "empty");
    refused(
        post(port, json, None, "{\"text\": \"a\"}"),
        400,
        "{\"inputs\"",
    );
    refused(
        post(port, "application/jsonlines", None, "\"a\"\n\n\"b\"\n"),
        400,
        "line 2",
    );
    refused(
        post(port, "text/plain", None, "甲\n\n乙\n"),
        400,
        "input 2 is blank",
    );
    refused(post(port, "text/csv", None, "a,b"), 415, "text/csv");
    refused(
        http(port, "POST", "/invocations", &[], b"a"),
        415,
        "no Content-Type",
    );
    refused(
        post(port, json, Some("image/png"), "{\"inputs\": \"a\"}"),
        406,
        "image/png",
    );
    let big = "北".repeat(400_000); // 1.2 MB of UTF-8
    refused(
        post(port, "text/plain", None, &big),
        413,
        "larger than 1 MB",
    );
    refused(http(port, "GET", "/nowhere", &[], b""), 404, "/nowhere");

    let ok = post(port, json, None, "{\"inputs\": \"张三去了上海。\"}");
    assert_eq!(ok.status, 200, "the server still answers: {}", ok.body);
    assert!(server
        .log()
        .contains("request: path=/invocations status=413"));
}

#[test]
fn concurrent_requests_each_get_their_own_answer() {
    // fp32: int8's input range is per forward pass, so batching with others can move its tags.
    let server = Server::start(
        model_dir(),
        &[
            ("ALBERT_NER_PRECISION", "fp32"),
            ("ALBERT_NER_MAX_BATCH_DELAY_MS", "20"),
            ("RUST_LOG", "ner_serve=debug,info"),
        ],
    );
    let port = server.port;
    let inputs: Vec<String> = (0..24)
        .map(|i| format!("{}{}", SENTENCES[i % 3], "在北京。".repeat(i % 5)))
        .collect();
    let alone: Vec<String> = inputs
        .iter()
        .map(|t| post(port, "text/plain", None, t).body)
        .collect();
    let together: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|t| scope.spawn(move || post(port, "text/plain", None, t)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let reply = h.join().unwrap();
                assert_eq!(reply.status, 200, "{}", reply.body);
                reply.body
            })
            .collect()
    });
    assert_eq!(
        together, alone,
        "batched with others, each request gets what it gets alone"
    );
    let log = server.log();
    let largest = log
        .lines()
        .filter_map(|l| l.split("batch: requests=").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    assert!(largest >= 2, "concurrent requests shared a batch: {log}");
}

/// A body that takes the micro model a while: `lines` lines of `chars` characters.
fn slow_body(lines: usize, chars: usize) -> String {
    let line: String = "中国人民银行行长易纲在北京表示。"
        .chars()
        .cycle()
        .take(chars)
        .collect();
    (line + "\n").repeat(lines)
}

#[test]
fn a_request_past_the_timeout_gets_504_and_a_full_queue_503() {
    let server = Server::start(
        model_dir(),
        &[
            ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "1"),
            ("ALBERT_NER_MAX_QUEUED_INPUTS", "40"),
            // Batch starts, which the test waits on.
            ("RUST_LOG", "ner_serve=debug,info"),
        ],
    );
    let port = server.port;
    let started = Instant::now();
    let slow = post(port, "text/plain", None, &slow_body(40, 20_000));
    assert_eq!(slow.status, 504, "{}", slow.body);
    assert!(slow.error().contains("SAGEMAKER_MODEL_SERVER_TIMEOUT"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    wait_until_idle(port);
    let too_many = post(port, "text/plain", None, &"张三\n".repeat(41));
    assert_eq!(too_many.status, 413, "{}", too_many.body);

    // While a long request fills the queue, another is turned away at once, with Retry-After.
    let body = slow_body(40, 20_000);
    let before = server.batches_started(40);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| post(port, "text/plain", None, &body));
        // Tagging its 2.4 MB takes far longer than the next request.
        server.await_batch_start(40, before);
        let busy = post(port, "text/plain", None, "张三去了上海。");
        assert_eq!(busy.status, 503, "{}", busy.body);
        assert_eq!(busy.header("retry-after"), Some("1"));
        assert!(busy.error().contains("busy"));
        assert_eq!(first.join().unwrap().status, 504);
    });
    wait_until_idle(port);
}

/// Asks until a small request is answered 200 (an abandoned request's work stops at its next batch).
fn wait_until_idle(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = post(port, "text/plain", None, "张三去了上海。");
        if reply.status == 200 {
            return;
        }
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(Instant::now() < deadline, "still busy 30 s later");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    let mut server = Server::start(model_dir(), &[("RUST_LOG", "ner_serve=debug,info")]);
    let port = server.port;
    let body = slow_body(8, 40_000);
    let reply = std::thread::scope(|scope| {
        let in_flight = scope.spawn(|| post(port, "text/plain", None, &body));
        // Tagging it takes seconds: SIGTERM arrives while it runs.
        server.await_batch_start(8, 0);
        server.sigterm();
        in_flight.join().unwrap()
    });
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(blocks(&reply.body).len(), 8);
    let status = server.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", server.log());
    let log = server.log();
    let stopping = log.find("SIGTERM").unwrap_or_else(|| panic!("{log}"));
    let answered = log.find("request: path=/invocations status=200").unwrap();
    assert!(
        stopping < answered,
        "the request was still running at SIGTERM: {log}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no longer listening"
    );
}

#[test]
fn a_model_directory_that_cannot_be_served_stops_the_server_at_start() {
    let copy = || {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(model_dir()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        dir
    };
    let empty = tempfile::tempdir().unwrap();
    let corrupt = copy();
    std::fs::write(
        corrupt.path().join("model.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let bad_settings = copy();
    std::fs::write(
        bad_settings.path().join("hyperparameters.json"),
        r#"{"max_seq_length": "long"}"#,
    )
    .unwrap();
    for (dir, says) in [
        (empty.path(), "config.json"),
        (corrupt.path(), "model.safetensors"),
        (
            bad_settings.path(),
            "hyperparameters.json: max_seq_length is \"long\"",
        ),
    ] {
        let mut server = Server::spawn(dir, &[]);
        let status = server.wait(Duration::from_secs(60));
        assert!(!status.success());
        let log = server.log();
        assert!(
            log.contains(&dir.display().to_string()) && log.contains(says),
            "{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
        assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err());
    }
}

#[test]
fn bilstm_models_are_served_and_tag_as_predict_does() {
    for encoder in ["bilstm", "albert_bilstm"] {
        let job = common::Job::new(30, 8, 0);
        job.hyperparameters(&common::fast(&[
            ("encoder", encoder),
            ("char_embedding_size", "8"),
            ("lstm_hidden_size", "16"),
            ("max_seq_length", "32"),
            ("window_stride", "8"),
        ]));
        served_as_predicted(&job, encoder, "BiLSTM hidden=16x2");
    }
}

#[test]
fn a_bert_model_is_served_and_tags_as_predict_does() {
    let job = common::Job::new(30, 8, 0);
    let bert = r#"{"hidden_act": "gelu", "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
                   "num_hidden_layers": 2, "max_position_embeddings": 512, "type_vocab_size": 2,
                   "vocab_size": 21128}"#;
    std::fs::write(job.workdir().join("bert.json"), bert).unwrap();
    job.hyperparameters(&common::fast(&[
        ("encoder", "bert"),
        ("bert_config_file", "bert.json"),
        ("max_seq_length", "32"),
        ("window_stride", "8"),
    ]));
    served_as_predicted(&job, "bert", "BERT hidden=32 layers=2");
}

/// Trains `job`, serves its model and checks that a text/plain request (one short text, one windowed)
/// is answered with the tags `predict` gives, and that the server's start-up line names the encoder
/// (`encoder_line`).
fn served_as_predicted(job: &common::Job, encoder: &str, encoder_line: &str) {
    let o = job.train();
    check(&o, o.status.success(), encoder);
    let dir = job.base().join("model");
    // fp32 in both: int8's input range is per forward pass, and serve batches by tokens, predict by
    // windows.
    let server = Server::start(&dir, &[("ALBERT_NER_PRECISION", "fp32")]);
    let long = SENTENCES[0].repeat(3);
    let texts = [SENTENCES[1], long.as_str()];
    let reply = post(server.port, "text/plain", None, &(texts.join("\n") + "\n"));
    assert_eq!(reply.status, 200, "{encoder}: {}", reply.body);
    let predicted = common::run_predict(
        &dir,
        &["--format", "bio", "--precision", "fp32"],
        &(texts.join("\n") + "\n"),
    );
    check(&predicted, predicted.status.success(), "predict");
    assert_eq!(
        blocks(&String::from_utf8(predicted.stdout).unwrap()),
        blocks(&reply.body),
        "{encoder}: serve and predict tag alike"
    );
    assert!(
        server.log().contains(encoder_line),
        "{encoder}: {}",
        server.log()
    );
}

#[test]
fn the_precision_comes_from_the_environment_and_the_start_up_line_says_it() {
    let server = Server::start(model_dir(), &[("ALBERT_NER_PRECISION", "int8")]);
    let reply = post(
        server.port,
        "text/plain",
        None,
        &format!("{}\n", SENTENCES[0]),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let log = server.log();
    assert!(log.contains("precision int8 requested"), "{log}");
    drop(server);

    let mut refused = Server::spawn(model_dir(), &[("ALBERT_NER_PRECISION", "fp8")]);
    assert!(!refused.wait(Duration::from_secs(60)).success());
    let log = refused.log();
    assert!(log.contains("ALBERT_NER_PRECISION"), "{log}");
    for spelling in ["auto", "fp32", "int8", "bf16"] {
        assert!(log.contains(&format!("\"{spelling}\"")), "{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
}
