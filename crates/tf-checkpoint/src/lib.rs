//! tf-checkpoint
