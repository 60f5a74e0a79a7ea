//! A closed-loop HTTP load generator for `scripts/bench_serve.py`: `concurrency` clients, each on its own
//! keep-alive connection, POST the bodies of a file (one JSON body per line, taken in turn) to
//! `/invocations` for `seconds`, then one JSON line: requests/s, p50 and p99 latency. Small and in Rust so
//! that the client takes little of the CPU it shares with the server under test.
//!
//! `cargo run --release --example load -p ner-serve -- PORT CONCURRENCY SECONDS BODIES_FILE`

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn client(
    port: u16,
    bodies: Vec<String>,
    first: usize,
    step: usize,
    until: Instant,
) -> Vec<f64> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let mut stream = BufReader::new(stream);
    let mut latencies = Vec::new();
    let mut i = first;
    while Instant::now() < until {
        let body = &bodies[i % bodies.len()];
        i += step;
        let started = Instant::now();
        let head = format!(
            "POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream
            .get_mut()
            .write_all(head.as_bytes())
            .await
            .expect("writes");
        stream
            .get_mut()
            .write_all(body.as_bytes())
            .await
            .expect("writes");
        let mut length = 0usize;
        let mut line = String::new();
        stream.read_line(&mut line).await.expect("status line");
        assert!(line.contains(" 200 "), "answer: {line}");
        loop {
            line.clear();
            stream.read_line(&mut line).await.expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("content length");
                }
            }
        }
        let mut answer = vec![0u8; length];
        stream.read_exact(&mut answer).await.expect("body");
        latencies.push(started.elapsed().as_secs_f64());
    }
    latencies
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args[1].parse().expect("port");
    let concurrency: usize = args[2].parse().expect("concurrency");
    let seconds: f64 = args[3].parse().expect("seconds");
    let bodies: Vec<String> = std::fs::read_to_string(&args[4])
        .expect("bodies file")
        .lines()
        .map(str::to_string)
        .collect();
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|k| tokio::spawn(client(port, bodies.clone(), k, concurrency, until)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        1000.0 * latencies[((q * latencies.len() as f64) as usize).min(latencies.len() - 1)]
    };
    println!(
        "{{\"requests_per_s\": {:.3}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"requests\": {}}}",
        latencies.len() as f64 / elapsed,
        at(0.5),
        at(0.99),
        latencies.len()
    );
}
