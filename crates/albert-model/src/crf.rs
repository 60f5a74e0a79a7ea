//! Linear-chain CRF (pytorch-crf layout).
