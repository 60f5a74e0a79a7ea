//! Entities as users receive them: the text, its type, character offsets and the model's confidence.

use ner_data::Unit;
use serde::Serialize;

/// One entity of a tagged text. `start`/`end` are character (not byte) offsets, end exclusive, as
/// HF's token-classification pipeline gives them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    pub text: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub start: usize,
    pub end: usize,
    /// Mean, over the entity's units, of the model's probability of each unit's tag (CRF marginals or
    /// softmax); absent where confidences were not computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

/// The entities of `chars` tagged `tags` (one per character; conlleval's chunking). `unit_confidence`,
/// one per unit of `units`, gives each entity its score.
pub fn entities(
    chars: &[char],
    tags: &[String],
    units: &[Unit],
    unit_confidence: Option<&[f32]>,
) -> Vec<Entity> {
    ner_data::chunks(tags)
        .into_iter()
        .map(|c| Entity {
            text: chars[c.start..c.end].iter().collect(),
            score: unit_confidence.map(|conf| mean_over_units(units, conf, c.start, c.end)),
            kind: c.kind,
            start: c.start,
            end: c.end,
        })
        .collect()
}

/// Mean confidence of the units that start inside `start..end`.
fn mean_over_units(units: &[Unit], confidence: &[f32], start: usize, end: usize) -> f32 {
    let inside: Vec<f32> = units
        .iter()
        .zip(confidence)
        .filter(|(u, _)| (start..end).contains(&u.chars.start))
        .map(|(_, &c)| c)
        .collect();
    if inside.is_empty() {
        return 0.0;
    }
    inside.iter().sum::<f32>() / inside.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(chars: std::ops::Range<usize>) -> Unit {
        Unit {
            chars,
            pieces: 0..1,
        }
    }

    #[test]
    fn entity_offsets_are_characters_and_scores_average_its_units() {
        let chars: Vec<char> = "在北京iPhone".chars().collect();
        let tags: Vec<String> = [
            "O", "B-LOC", "I-LOC", "B-PRD", "I-PRD", "I-PRD", "I-PRD", "I-PRD", "I-PRD",
        ]
        .map(String::from)
        .to_vec();
        let units = [unit(0..1), unit(1..2), unit(2..3), unit(3..9)];
        let found = entities(&chars, &tags, &units, Some(&[0.9, 0.8, 0.6, 0.5]));
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].text.as_str(), found[0].kind.as_str()),
            ("北京", "LOC")
        );
        assert_eq!((found[0].start, found[0].end), (1, 3));
        assert!((found[0].score.unwrap() - 0.7).abs() < 1e-6);
        assert_eq!(
            (found[1].text.as_str(), found[1].start, found[1].end),
            ("iPhone", 3, 9)
        );
        assert_eq!(found[1].score, Some(0.5));
        assert_eq!(entities(&chars, &tags, &units, None)[0].score, None);
    }
}
