//! ner-data
