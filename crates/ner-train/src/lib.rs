//! ner-train
