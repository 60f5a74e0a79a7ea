//! ALBERT encoder and token-tagging heads (linear-chain CRF or softmax) in tch.

pub mod crf;
