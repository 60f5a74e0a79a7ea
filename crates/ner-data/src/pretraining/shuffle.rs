//! A shuffle buffer over a stream too large to shuffle whole: each item is drawn at random from the
//! next `capacity` ones. The draws are a function of the seed alone, so replaying the stream from its
//! start gives the same order (how a resumed run finds its place).

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

/// `inner`'s items in a seeded, locally random order; an error passes through at once.
pub struct Shuffled<I: Iterator> {
    inner: I,
    buffer: Vec<I::Item>,
    capacity: usize,
    rng: ChaCha12Rng,
}

impl<T, E, I: Iterator<Item = Result<T, E>>> Shuffled<I> {
    pub fn new(inner: I, capacity: usize, seed: u64) -> Self {
        Shuffled {
            inner,
            buffer: Vec::with_capacity(capacity),
            capacity: capacity.max(1),
            rng: ChaCha12Rng::seed_from_u64(seed),
        }
    }
}

impl<T, E, I: Iterator<Item = Result<T, E>>> Iterator for Shuffled<I> {
    type Item = Result<T, E>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffer.len() < self.capacity {
            match self.inner.next() {
                Some(Ok(item)) => self.buffer.push(Ok(item)),
                Some(Err(e)) => return Some(Err(e)),
                None => break,
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let pick = (self.rng.next_u64() % self.buffer.len() as u64) as usize;
        Some(self.buffer.swap_remove(pick))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shuffled(n: u32, capacity: usize, seed: u64) -> Vec<u32> {
        let items = (0..n).map(Ok::<u32, ()>);
        Shuffled::new(items, capacity, seed)
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn every_item_once_in_a_seeded_order_displaced_at_most_by_the_buffer() {
        let out = shuffled(1000, 64, 3);
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(out, sorted, "shuffled");
        assert_eq!(out, shuffled(1000, 64, 3), "the same seed, the same order");
        assert_ne!(out, shuffled(1000, 64, 4));
        // An item is drawn no earlier than when it entered the buffer.
        for (position, &item) in out.iter().enumerate() {
            assert!(item as usize <= position + 63, "{item} at {position}");
        }
    }

    #[test]
    fn an_error_passes_through() {
        let items = vec![Ok(1), Err("bad"), Ok(2)].into_iter();
        let mut s = Shuffled::new(items, 8, 0);
        assert_eq!(s.next(), Some(Err("bad")));
    }
}
