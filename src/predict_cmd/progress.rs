//! Progress of a long `predict` on stderr: share of the input done, rate and time left, at most once per
//! interval, so a user tagging a large corpus sees it move and when it will end.

use std::time::{Duration, Instant};

pub struct Progress {
    start: Instant,
    last: Instant,
    interval: Option<Duration>,
}

impl Progress {
    /// `interval` None: no progress lines.
    pub fn new(interval: Option<Duration>) -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: now,
            interval,
        }
    }

    /// Reports when an interval has passed since the last line.
    pub fn tick(&mut self, lines: usize, bytes: u64, total: Option<u64>) {
        let Some(interval) = self.interval else {
            return;
        };
        if self.last.elapsed() < interval {
            return;
        }
        self.last = Instant::now();
        eprintln!("{}", line(self.start.elapsed(), lines, bytes, total));
    }
}

/// `predict: 1,200 lines, 0.4 of 6.5 MB (6%), 410 lines/s, ETA 15 s` (no ETA when the size is unknown).
fn line(elapsed: Duration, lines: usize, bytes: u64, total: Option<u64>) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let mb = |b: u64| b as f64 / 1e6;
    let rate = lines as f64 / secs;
    match total.filter(|&t| t > 0) {
        Some(total) => {
            let done = bytes as f64 / total as f64;
            let eta = if bytes > 0 {
                secs * (total.saturating_sub(bytes)) as f64 / bytes as f64
            } else {
                f64::NAN
            };
            format!(
                "predict: {lines} lines, {:.1} of {:.1} MB ({:.0}%), {rate:.0} lines/s, ETA {}",
                mb(bytes),
                mb(total),
                done * 100.0,
                format_secs(eta)
            )
        }
        None => format!(
            "predict: {lines} lines, {:.1} MB, {rate:.0} lines/s",
            mb(bytes)
        ),
    }
}

fn format_secs(s: f64) -> String {
    if !s.is_finite() {
        return "unknown".into();
    }
    let s = s.round() as u64;
    match s {
        0..=99 => format!("{s} s"),
        100..=5999 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_the_time_left_at_the_rate_so_far() {
        let l = line(Duration::from_secs(10), 1000, 1_000_000, Some(4_000_000));
        assert_eq!(
            l,
            "predict: 1000 lines, 1.0 of 4.0 MB (25%), 100 lines/s, ETA 30 s"
        );
        let l = line(Duration::from_secs(60), 10, 1_000_000, Some(101_000_000));
        assert!(l.ends_with("ETA 1 h 40 min"), "{l}");
        let l = line(Duration::from_secs(2), 10, 500_000, None);
        assert_eq!(l, "predict: 10 lines, 0.5 MB, 5 lines/s");
    }
}
