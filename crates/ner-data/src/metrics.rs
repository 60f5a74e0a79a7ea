//! Entity-level scores with conlleval chunk semantics, the number NER papers report: an entity is
//! correct only when its start, end and type all match. Also the replaced TensorFlow system's
//! token-level macro score, kept only so old and new runs can be put side by side.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::labels::LabelSet;

/// Precision, recall and F1 with the counts they come from (so scores can be re-aggregated).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub gold: usize,
    pub pred: usize,
    pub correct: usize,
}

impl Prf {
    /// Computes the ratios from counts, 0 where a denominator is 0; the arithmetic is in the same
    /// order as conlleval-style evaluators so results agree to the last bit.
    pub fn from_counts(correct: usize, pred: usize, gold: usize) -> Self {
        let precision = if pred > 0 {
            correct as f64 / pred as f64
        } else {
            0.0
        };
        let recall = if gold > 0 {
            correct as f64 / gold as f64
        } else {
            0.0
        };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Prf {
            precision,
            recall,
            f1,
            gold,
            pred,
            correct,
        }
    }
}

/// Entity-level micro scores, per-type scores and token accuracy over a dataset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityScores {
    pub micro: Prf,
    /// Per entity type, sorted by type; a type seen only in gold or only in predictions is listed.
    pub types: BTreeMap<String, Prf>,
    /// Fraction of characters whose tag string matches exactly.
    pub token_accuracy: f64,
    pub sentences: usize,
    pub tokens: usize,
}

/// An entity: `start..end` (exclusive) character range and type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub kind: String,
}

/// Splits a tag into (prefix, type) the way conlleval does: `O` (or empty / `.`) is outside, a
/// bare tag without `-` is an inside tag of that type.
fn split_tag(tag: &str) -> (String, &str) {
    if matches!(tag, "O" | "" | ".") {
        return ("O".into(), "");
    }
    match tag.split_once('-') {
        Some((p, t)) => (p.to_uppercase(), t),
        None => ("I".into(), tag),
    }
}

/// The entities of one tag sequence under conlleval rules (BIO, IOB1 and BIOES alike): a chunk
/// starts at B-/S-, or at I-/E- after O, E-, S- or another type; it ends before O, B-, S-, another
/// type, after E-/S-, and at the end of the sentence.
pub fn chunks<S: AsRef<str>>(tags: &[S]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut prev_tag = String::from("O");
    let mut prev_type = "";
    let mut start: Option<usize> = None;
    for i in 0..=tags.len() {
        let (tag, typ) = if i < tags.len() {
            split_tag(tags[i].as_ref())
        } else {
            ("O".to_string(), "")
        };
        let end_of_chunk = matches!(prev_tag.as_str(), "E" | "S")
            || (matches!(prev_tag.as_str(), "B" | "I") && matches!(tag.as_str(), "B" | "S" | "O"))
            || (prev_tag != "O" && prev_type != typ);
        if let (Some(s), true) = (start, end_of_chunk) {
            out.push(Chunk {
                start: s,
                end: i,
                kind: prev_type.to_string(),
            });
            start = None;
        }
        let start_of_chunk = matches!(tag.as_str(), "B" | "S")
            || (matches!(prev_tag.as_str(), "E" | "S" | "O") && matches!(tag.as_str(), "E" | "I"))
            || (tag != "O" && prev_type != typ);
        if start_of_chunk {
            start = Some(i);
        }
        prev_tag = tag;
        prev_type = typ;
    }
    out
}

/// Accumulates entity counts sentence by sentence, so evaluation can stream over batches.
#[derive(Clone, Debug, Default)]
pub struct EntityCounter {
    gold: BTreeMap<String, usize>,
    pred: BTreeMap<String, usize>,
    correct: BTreeMap<String, usize>,
    tokens: usize,
    tokens_ok: usize,
    sentences: usize,
}

impl EntityCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sentence. Panics if the lengths differ: that is a pipeline bug, not a data error.
    pub fn add<G: AsRef<str>, P: AsRef<str>>(&mut self, gold: &[G], pred: &[P]) {
        assert_eq!(
            gold.len(),
            pred.len(),
            "gold and predicted tags per sentence"
        );
        self.sentences += 1;
        self.tokens += gold.len();
        self.tokens_ok += gold
            .iter()
            .zip(pred)
            .filter(|(g, p)| g.as_ref() == p.as_ref())
            .count();
        let g: HashSet<Chunk> = chunks(gold).into_iter().collect();
        let p: HashSet<Chunk> = chunks(pred).into_iter().collect();
        for c in &g {
            *self.gold.entry(c.kind.clone()).or_default() += 1;
        }
        for c in &p {
            *self.pred.entry(c.kind.clone()).or_default() += 1;
        }
        for c in g.intersection(&p) {
            *self.correct.entry(c.kind.clone()).or_default() += 1;
        }
    }

    pub fn scores(&self) -> EntityScores {
        let get = |m: &BTreeMap<String, usize>, k: &str| m.get(k).copied().unwrap_or(0);
        let mut types = BTreeMap::new();
        for k in self.gold.keys().chain(self.pred.keys()) {
            types.insert(
                k.clone(),
                Prf::from_counts(
                    get(&self.correct, k),
                    get(&self.pred, k),
                    get(&self.gold, k),
                ),
            );
        }
        EntityScores {
            micro: Prf::from_counts(
                self.correct.values().sum(),
                self.pred.values().sum(),
                self.gold.values().sum(),
            ),
            types,
            token_accuracy: if self.tokens > 0 {
                self.tokens_ok as f64 / self.tokens as f64
            } else {
                0.0
            },
            sentences: self.sentences,
            tokens: self.tokens,
        }
    }
}

/// Entity scores over aligned sentences of gold and predicted tags.
pub fn entity_scores<G: AsRef<str>, P: AsRef<str>>(
    gold: &[Vec<G>],
    pred: &[Vec<P>],
) -> EntityScores {
    assert_eq!(gold.len(), pred.len(), "gold and predicted sentence counts");
    let mut c = EntityCounter::new();
    for (g, p) in gold.iter().zip(pred) {
        c.add(g, p);
    }
    c.scores()
}

/// The replaced system's evaluation number (whn09/albert-chinese-ner, `tf_metrics` with
/// `average="macro"`): *token-level*, one confusion matrix over tags, precision/recall/F1 computed
/// per label and averaged (F1 is the mean of per-label F1s, not the F1 of the means) over the
/// entity labels only, i.e. every `B-X` and `I-X` (its `pos_indices` [2..7] were exactly the B-/I-
/// ids of its 3 types; O, X, [CLS], [SEP] and padding were excluded). It is *not* comparable to
/// entity F1: a half-found entity earns partial credit. One difference: the original counted
/// every position of the padded sequence (an entity label predicted on padding or [CLS]/[SEP]
/// counted against precision); here only real characters count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenMacroScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Per label (B-X, I-X) in label-set order.
    pub labels: Vec<(String, Prf)>,
}

/// Computes [`TokenMacroScores`] over aligned character tags; tags outside `labels` are counted as
/// neither gold nor predicted for any entity label (they can only lower precision or recall).
pub fn token_macro_scores<G: AsRef<str>, P: AsRef<str>>(
    gold: &[Vec<G>],
    pred: &[Vec<P>],
    labels: &LabelSet,
) -> TokenMacroScores {
    assert_eq!(gold.len(), pred.len(), "gold and predicted sentence counts");
    let positive: Vec<&String> = labels.labels().iter().filter(|l| *l != "O").collect();
    let mut per: Vec<(usize, usize, usize)> = vec![(0, 0, 0); positive.len()]; // correct, pred, gold
    let index = |t: &str| positive.iter().position(|l| l.as_str() == t);
    for (g, p) in gold.iter().zip(pred) {
        assert_eq!(g.len(), p.len(), "gold and predicted tags per sentence");
        for (g, p) in g.iter().zip(p) {
            let (gi, pi) = (index(g.as_ref()), index(p.as_ref()));
            if let Some(i) = gi {
                per[i].2 += 1;
            }
            if let Some(i) = pi {
                per[i].1 += 1;
            }
            if gi.is_some() && gi == pi {
                per[gi.unwrap_or(0)].0 += 1;
            }
        }
    }
    let labels: Vec<(String, Prf)> = positive
        .iter()
        .zip(&per)
        .map(|(l, &(c, p, g))| ((*l).clone(), Prf::from_counts(c, p, g)))
        .collect();
    let n = labels.len().max(1) as f64;
    TokenMacroScores {
        precision: labels.iter().map(|(_, s)| s.precision).sum::<f64>() / n,
        recall: labels.iter().map(|(_, s)| s.recall).sum::<f64>() / n,
        f1: labels.iter().map(|(_, s)| s.f1).sum::<f64>() / n,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(tags: &[&str]) -> Vec<(usize, usize, String)> {
        chunks(tags)
            .into_iter()
            .map(|c| (c.start, c.end, c.kind))
            .collect()
    }

    #[test]
    fn conlleval_chunks() {
        assert_eq!(
            ch(&["B-A", "I-A", "O", "B-B"]),
            [(0, 2, "A".into()), (3, 4, "B".into())]
        );
        // I- after O or another type starts a new entity.
        assert_eq!(
            ch(&["O", "I-A", "I-B", "I-B"]),
            [(1, 2, "A".into()), (2, 4, "B".into())]
        );
        assert_eq!(
            ch(&["B-A", "B-A"]),
            [(0, 1, "A".into()), (1, 2, "A".into())]
        );
        // BIOES.
        assert_eq!(
            ch(&["S-A", "B-A", "E-A", "I-A"]),
            [(0, 1, "A".into()), (1, 3, "A".into()), (3, 4, "A".into())]
        );
    }

    #[test]
    fn scores_count() {
        let gold = vec![vec!["B-A", "I-A", "O", "B-B"]];
        let pred = vec![vec!["B-A", "I-A", "O", "O"]];
        let s = entity_scores(&gold, &pred);
        assert_eq!((s.micro.gold, s.micro.pred, s.micro.correct), (2, 1, 1));
        assert_eq!(s.micro.precision, 1.0);
        assert_eq!(s.micro.recall, 0.5);
        assert_eq!(s.types["B"].gold, 1);
        assert_eq!(s.token_accuracy, 0.75);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<EntityScores>(&json).unwrap(), s);
    }

    #[test]
    fn token_macro() {
        let labels = LabelSet::from_types(["A"]);
        let gold = vec![vec!["B-A", "I-A", "I-A", "O"]];
        let pred = vec![vec!["B-A", "I-A", "O", "I-A"]];
        let s = token_macro_scores(&gold, &pred, &labels);
        // B-A: P 1 R 1 F 1; I-A: P 1/2 R 1/2 F 1/2.
        assert_eq!(s.labels.len(), 2);
        assert_eq!(s.precision, 0.75);
        assert_eq!(s.recall, 0.75);
        assert_eq!(s.f1, 0.75);
    }
}
