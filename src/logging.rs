//! Log set-up shared by the binaries: plain lines on stdout, no colours, no carriage returns, because
//! SageMaker ships stdout/stderr line by line to CloudWatch and `metric_definitions` regexes read them.

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` overrides the default `info` level.
///
/// In a worker of a data-parallel job (torchrun's `RANK` and `WORLD_SIZE` > 1 set), every line starts
/// with `[rank N]`, and ranks other than 0 log warnings and errors only: rank 0's `train:`/`eval:`
/// lines are the job's.
pub fn init() {
    let rank = worker_rank();
    let default = match rank {
        Some(r) if r > 0 => "warn",
        _ => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    let _ = match rank {
        Some(rank) => {
            let format = RankPrefix {
                rank,
                inner: tracing_subscriber::fmt::format()
                    .with_ansi(false)
                    .with_target(false),
            };
            builder.event_format(format).try_init()
        }
        None => builder.try_init(),
    };
}

/// This process's rank when it is one of several workers.
fn worker_rank() -> Option<usize> {
    let var = |name| std::env::var(name).ok()?.trim().parse::<usize>().ok();
    let world = var("WORLD_SIZE")?;
    (world > 1).then(|| var("RANK")).flatten()
}

/// Puts `[rank N] ` before each line of `inner`.
struct RankPrefix<F> {
    rank: usize,
    inner: F,
}

impl<S, N, F> FormatEvent<S, N> for RankPrefix<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "[rank {}] ", self.rank)?;
        self.inner.format_event(ctx, writer, event)
    }
}

/// As [`init`], but to stderr: for `predict`, whose stdout is the predictions.
pub fn init_stderr() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
