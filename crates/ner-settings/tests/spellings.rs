//! Every choice type: each spelling parses to its value, the canonical one round-trips through
//! `Display` and serde, a bad value is refused listing every spelling, and no spelling is claimed
//! twice.

use std::collections::HashSet;
use std::fmt::Debug;
use std::str::FromStr;

use ner_settings::{
    Choice, DataFormat, Device, Distributed, Encoder, Head, InferencePrecision, MixedPrecision,
    Task, TaskName,
};

fn check<T>()
where
    T: Choice + Debug + FromStr<Err = ner_settings::UnknownChoice> + ToString,
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut seen = HashSet::new();
    for (value, spellings) in T::TABLE {
        assert!(
            !spellings.is_empty(),
            "{}: {value:?} has no spelling",
            T::SETTING
        );
        for s in *spellings {
            assert!(seen.insert(*s), "{}: {s:?} spelt twice", T::SETTING);
            assert_eq!(s.to_ascii_lowercase(), *s, "spellings are lower case");
            assert_eq!(T::from_str(s).unwrap(), *value, "{s}");
            assert_eq!(
                T::from_str(&format!(" {} ", s.to_uppercase())).unwrap(),
                *value
            );
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *value);
        }
        assert_eq!(value.to_string(), spellings[0]);
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            serde_json::Value::from(spellings[0])
        );
    }
    let err = T::from_str("no-such-value").unwrap_err();
    assert_eq!(err.setting, T::SETTING);
    let text = err.to_string();
    assert!(text.starts_with(T::SETTING), "{text}");
    assert!(text.contains("\"no-such-value\""), "{text}");
    for spelling in &seen {
        assert!(
            text.contains(&format!("\"{spelling}\"")),
            "{text} lacks {spelling}"
        );
    }
    assert!(serde_json::from_str::<T>("\"no-such-value\"").is_err());
}

#[test]
fn every_choice_type_parses_prints_and_refuses_by_its_table() {
    check::<Head>();
    check::<Encoder>();
    check::<MixedPrecision>();
    check::<InferencePrecision>();
    check::<DataFormat>();
    check::<Device>();
    check::<Distributed>();
    check::<TaskName>();
    check::<Task>();
}

#[test]
fn the_error_lists_canonical_spellings_first_then_the_others() {
    assert_eq!(
        Device::expected(),
        "one of \"auto\", \"cpu\", \"cuda\" (also \"gpu\")"
    );
    assert_eq!(Head::expected(), "one of \"crf\", \"softmax\"");
    assert_eq!(Device::from_str("GPU").unwrap(), Device::Cuda);
    assert_eq!(Encoder::AlbertBilstm.to_string(), "albert_bilstm");
}
