//! sagemaker-contract
