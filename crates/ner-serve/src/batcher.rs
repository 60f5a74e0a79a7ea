//! Dynamic batching: one inference thread owns the model; requests from any connection queue their
//! texts, and the thread runs whatever has queued (up to a token budget, waiting at most a small
//! delay for more) as one set of length-sorted forward passes, then answers each request its own part.
//!
//! The queue is bounded in inputs, not requests: a request that would take it past the bound is
//! refused at once (503, retry later), so a burst costs a retry rather than unbounded memory.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ner_infer::{Batching, Tagged, TrainedModel};
use tokio::sync::oneshot;

/// How many forward passes' worth of queued requests one batch gathers: sorted by length together, they
/// pad less than requests taken one forward pass at a time.
const GATHER_PASSES: usize = 8;

/// How the inference thread groups work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Padded tokens per forward pass; a gathered batch stops growing at [`GATHER_PASSES`] times this.
    pub max_batch_tokens: usize,
    /// How long the thread waits for more requests before running a batch that is under budget.
    pub max_batch_delay: Duration,
    /// Inputs queued or being tagged, at most.
    pub max_queued_inputs: usize,
}

/// What a request gets back from the inference thread.
pub type Answer = Result<Vec<Tagged>, String>;

/// Why a request was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The queue holds `queued` inputs and this request's `inputs` would pass `capacity`.
    Full { queued: usize, capacity: usize },
    /// One request with more inputs than the queue may ever hold.
    TooLarge { inputs: usize, capacity: usize },
    /// The inference thread has stopped.
    Stopped,
}

/// A queued request: its answer, and the way to say the caller stopped waiting.
pub struct Pending {
    pub answer: oneshot::Receiver<Answer>,
    abandoned: Arc<AtomicBool>,
}

impl Pending {
    /// Tells the thread nobody waits for this answer any more (a timed-out request); it skips the
    /// request's work where it can.
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }
}

struct Job {
    texts: Vec<String>,
    scores: bool,
    reply: oneshot::Sender<Answer>,
    abandoned: Arc<AtomicBool>,
}

impl Job {
    fn tokens(&self) -> usize {
        self.texts.iter().map(|t| t.chars().count() + 2).sum()
    }

    fn wanted(&self) -> bool {
        !self.abandoned.load(Ordering::SeqCst) && !self.reply.is_closed()
    }
}

/// The handle requests queue through; cheap to clone. The thread stops once every handle is dropped
/// and the queue is empty.
#[derive(Clone)]
pub struct Batcher {
    jobs: Sender<Job>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

/// What the inference thread reports once its model is loaded and has tagged a warm-up input.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The model, its labels, device and precision, for the start-up line.
    pub model: String,
    pub warm_up: Duration,
}

impl Batcher {
    /// Starts the inference thread, which loads the model with `load` (on `threads` intra-op threads),
    /// tags a warm-up input and owns the model from then on; returns once that is done, or with the reason
    /// it could not be. Loading happens in the thread that runs the model because libtorch's CPU thread
    /// pool belongs to the thread that first used it: a model loaded elsewhere tagged at half the speed here.
    pub fn start<F>(
        load: F,
        settings: BatchSettings,
        threads: usize,
    ) -> Result<(Self, JoinHandle<()>, Ready), String>
    where
        F: FnOnce() -> Result<TrainedModel, String> + Send + 'static,
    {
        let (jobs, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let thread_queued = Arc::clone(&queued);
        let thread = std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || {
                tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
                let model = match load().and_then(|m| warm_up(&m, settings).map(|r| (m, r))) {
                    Ok((model, ready)) => {
                        let _ = ready_tx.send(Ok(ready));
                        model
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                run(&model, settings, &rx, &thread_queued);
            })
            .map_err(|e| format!("cannot start the inference thread: {e}"))?;
        let ready = ready_rx
            .recv()
            .map_err(|_| "the inference thread ended before the model was ready".to_string())??;
        let batcher = Self {
            jobs,
            queued,
            capacity: settings.max_queued_inputs,
        };
        Ok((batcher, thread, ready))
    }

    /// Queues `texts`; refuses when the queue would pass its bound.
    pub fn submit(&self, texts: Vec<String>, scores: bool) -> Result<Pending, Refusal> {
        let n = texts.len();
        if n > self.capacity {
            return Err(Refusal::TooLarge {
                inputs: n,
                capacity: self.capacity,
            });
        }
        let reserved = self
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                (q + n <= self.capacity).then_some(q + n)
            });
        if let Err(queued) = reserved {
            return Err(Refusal::Full {
                queued,
                capacity: self.capacity,
            });
        }
        let (reply, answer) = oneshot::channel();
        let abandoned = Arc::new(AtomicBool::new(false));
        let job = Job {
            texts,
            scores,
            reply,
            abandoned: Arc::clone(&abandoned),
        };
        if self.jobs.send(job).is_err() {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            return Err(Refusal::Stopped);
        }
        Ok(Pending { answer, abandoned })
    }
}

/// One inference before serving, so that the first request does not pay for libtorch's lazy
/// initialisation and a model that cannot tag never reports healthy.
fn warm_up(model: &TrainedModel, settings: BatchSettings) -> Result<Ready, String> {
    let started = Instant::now();
    let texts = ["张三在北京大学工作。", "warm-up"];
    model
        .tag(
            &texts,
            Batching::Tokens(settings.max_batch_tokens),
            true,
            || true,
        )
        .map_err(|e| format!("the warm-up inference failed: {e}"))?;
    Ok(Ready {
        model: model.describe(),
        warm_up: started.elapsed(),
    })
}

/// The inference thread: gather, tag, answer, until every [`Batcher`] is dropped.
fn run(model: &TrainedModel, settings: BatchSettings, rx: &Receiver<Job>, queued: &AtomicUsize) {
    while let Some(batch) = gather(rx, settings) {
        let started = Instant::now();
        let inputs: usize = batch.iter().map(|j| j.texts.len()).sum();
        let requests = batch.len();
        tracing::debug!("batch: start requests={requests} inputs={inputs}");
        let wanted: Vec<Job> = batch.into_iter().filter(Job::wanted).collect();
        if !wanted.is_empty() {
            answer(model, settings, wanted);
        }
        queued.fetch_sub(inputs, Ordering::SeqCst);
        tracing::debug!(
            "batch: requests={requests} inputs={inputs} ms={:.1}",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}

/// Blocks for the first job, then takes whatever else is queued or arrives until [`GATHER_PASSES`]
/// forward passes' worth of tokens or the delay has passed. `None` once the queue is closed and empty.
fn gather(rx: &Receiver<Job>, settings: BatchSettings) -> Option<Vec<Job>> {
    let first = rx.recv().ok()?;
    let mut tokens = first.tokens();
    let mut batch = vec![first];
    let until = Instant::now() + settings.max_batch_delay;
    while tokens < settings.max_batch_tokens * GATHER_PASSES {
        let wait = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(job) => {
                tokens += job.tokens();
                batch.push(job);
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    Some(batch)
}

/// Tags every job's texts in one call and sends each job its share. A panic inside libtorch answers
/// this batch's requests with an error and leaves the thread serving.
fn answer(model: &TrainedModel, settings: BatchSettings, jobs: Vec<Job>) {
    let texts: Vec<&str> = jobs
        .iter()
        .flat_map(|j| j.texts.iter().map(String::as_str))
        .collect();
    let scores = jobs.iter().any(|j| j.scores);
    let batching = Batching::Tokens(settings.max_batch_tokens);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        model.tag(&texts, batching, scores, || jobs.iter().any(Job::wanted))
    }));
    let result: Result<Option<Vec<Tagged>>, String> = match outcome {
        Ok(Ok(tagged)) => Ok(tagged),
        Ok(Err(e)) => Err(format!("tagging failed: {e}")),
        Err(panic) => {
            tracing::error!(
                "the inference thread caught a panic: {}",
                panic_text(&*panic)
            );
            Err("internal error while tagging; the server log has the cause".into())
        }
    };
    let mut tagged = match result {
        Ok(Some(tagged)) => tagged.into_iter(),
        // Every caller gave up: nobody to answer.
        Ok(None) => return,
        Err(message) => {
            for job in jobs {
                let _ = job.reply.send(Err(message.clone()));
            }
            return;
        }
    };
    for job in jobs {
        let mine: Vec<Tagged> = tagged.by_ref().take(job.texts.len()).collect();
        let _ = job.reply.send(Ok(mine));
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the inference thread panicked".into())
}
