//! The machinery behind every choice type: the trait, its error, and the macro that declares one.

use std::fmt::Write as _;

/// A setting whose value is one of a closed set, with the spellings users may write for each.
pub trait Choice: Sized + Copy + Eq + 'static {
    /// The setting's name as users know it (the hyperparameter's), for messages.
    const SETTING: &'static str;
    /// Every value with its spellings, canonical first, lower case.
    const TABLE: &'static [(Self, &'static [&'static str])];

    /// The canonical spelling: how the value is written back (logs, JSON, `resolved_json()`).
    fn name(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(value, _)| *value == self)
            .map(|(_, spellings)| spellings[0])
            .expect("every value is in its table")
    }

    /// The value `text` spells (case-insensitive, surrounding whitespace ignored).
    fn parse(text: &str) -> Result<Self, UnknownChoice> {
        let wanted = text.trim().to_ascii_lowercase();
        Self::TABLE
            .iter()
            .find(|(_, spellings)| spellings.contains(&wanted.as_str()))
            .map(|(value, _)| *value)
            .ok_or_else(|| UnknownChoice {
                setting: Self::SETTING,
                value: text.to_string(),
                expected: Self::expected(),
            })
    }

    /// What a bad value is told: `one of "auto", "cpu", "cuda" (also "gpu")`.
    fn expected() -> String {
        let quoted = |s: &&str| format!("\"{s}\"");
        let canonical: Vec<String> = Self::TABLE.iter().map(|(_, s)| quoted(&s[0])).collect();
        let aliases: Vec<String> = Self::TABLE
            .iter()
            .flat_map(|(_, s)| s[1..].iter().map(quoted))
            .collect();
        let mut text = format!("one of {}", canonical.join(", "));
        if !aliases.is_empty() {
            let _ = write!(text, " (also {})", aliases.join(", "));
        }
        text
    }
}

/// A value that is none of a setting's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {value:?}: expected {expected}")]
pub struct UnknownChoice {
    /// The setting's name ([`Choice::SETTING`]).
    pub setting: &'static str,
    /// The value as given.
    pub value: String,
    /// [`Choice::expected`].
    pub expected: String,
}

/// Declares a choice type: the enum, its [`Choice`] table, `FromStr`, `Display` and serde (as the
/// canonical spelling; any accepted spelling reads back). Mark the default variant `#[default]`.
/// Crate-private: every choice type lives in this crate.
macro_rules! choices {
    ($(#[$meta:meta])* pub enum $name:ident as $setting:literal {
        $($(#[$vmeta:meta])* $variant:ident = [$($spelling:literal),+ $(,)?]),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $crate::Choice for $name {
            const SETTING: &'static str = $setting;
            const TABLE: &'static [(Self, &'static [&'static str])] =
                &[$(($name::$variant, &[$($spelling),+])),+];
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownChoice;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                <Self as $crate::Choice>::parse(text)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::Choice::name(*self))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::Choice::name(*self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(d)?;
                <Self as $crate::Choice>::parse(&text).map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use choices;
