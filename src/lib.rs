//! Shared start-up for the `train` and `predict` binaries.
