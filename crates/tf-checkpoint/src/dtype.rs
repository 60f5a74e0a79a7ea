//! TensorFlow dtypes as they appear in bundle entries, and the widening conversions to f32 / i64.

use std::fmt;

/// A tensor's element type, numbered as in TensorFlow's `types.proto`.
///
/// Kept as an open enum (`Other`) because a checkpoint may hold variables of types this crate never
/// reads (resource handles, variants, quantized types); they must still be listable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Float,
    Double,
    Int32,
    Uint8,
    Int16,
    Int8,
    String,
    Int64,
    Bool,
    BFloat16,
    Uint16,
    Half,
    Resource,
    Uint32,
    Uint64,
    /// Any other `DataType` value, kept verbatim.
    Other(i32),
}

impl DType {
    /// From the `DataType` enum value stored in a `BundleEntryProto`.
    pub fn from_proto(v: i32) -> DType {
        match v {
            1 => DType::Float,
            2 => DType::Double,
            3 => DType::Int32,
            4 => DType::Uint8,
            5 => DType::Int16,
            6 => DType::Int8,
            7 => DType::String,
            9 => DType::Int64,
            10 => DType::Bool,
            14 => DType::BFloat16,
            17 => DType::Uint16,
            19 => DType::Half,
            20 => DType::Resource,
            22 => DType::Uint32,
            23 => DType::Uint64,
            other => DType::Other(other),
        }
    }

    /// The `DataType` enum value, so error messages can be matched against TensorFlow's docs.
    pub fn proto_value(self) -> i32 {
        match self {
            DType::Float => 1,
            DType::Double => 2,
            DType::Int32 => 3,
            DType::Uint8 => 4,
            DType::Int16 => 5,
            DType::Int8 => 6,
            DType::String => 7,
            DType::Int64 => 9,
            DType::Bool => 10,
            DType::BFloat16 => 14,
            DType::Uint16 => 17,
            DType::Half => 19,
            DType::Resource => 20,
            DType::Uint32 => 22,
            DType::Uint64 => 23,
            DType::Other(v) => v,
        }
    }

    /// Bytes per element for fixed-width types; `None` for strings, resources and unknown types,
    /// whose stored size cannot be checked against the shape.
    pub fn element_size(self) -> Option<usize> {
        Some(match self {
            DType::Uint8 | DType::Int8 | DType::Bool => 1,
            DType::Int16 | DType::Uint16 | DType::Half | DType::BFloat16 => 2,
            DType::Float | DType::Int32 | DType::Uint32 => 4,
            DType::Double | DType::Int64 | DType::Uint64 => 8,
            DType::String | DType::Resource | DType::Other(_) => return None,
        })
    }

    fn tf_name(self) -> Option<&'static str> {
        Some(match self {
            DType::Float => "DT_FLOAT",
            DType::Double => "DT_DOUBLE",
            DType::Int32 => "DT_INT32",
            DType::Uint8 => "DT_UINT8",
            DType::Int16 => "DT_INT16",
            DType::Int8 => "DT_INT8",
            DType::String => "DT_STRING",
            DType::Int64 => "DT_INT64",
            DType::Bool => "DT_BOOL",
            DType::BFloat16 => "DT_BFLOAT16",
            DType::Uint16 => "DT_UINT16",
            DType::Half => "DT_HALF",
            DType::Resource => "DT_RESOURCE",
            DType::Uint32 => "DT_UINT32",
            DType::Uint64 => "DT_UINT64",
            DType::Other(_) => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tf_name() {
            Some(n) => write!(f, "{n} ({})", self.proto_value()),
            None => write!(f, "DataType {}", self.proto_value()),
        }
    }
}

/// Widens little-endian elements of a float dtype to f32; `None` if the dtype is not a float.
pub(crate) fn decode_f32(dtype: DType, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        DType::Float => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        DType::Double => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        DType::Half => bytes
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::BFloat16 => bytes
            .chunks_exact(2)
            .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
            .collect(),
        _ => return None,
    })
}

/// Widens little-endian elements of an integer dtype to i64; `None` if the dtype is not an integer
/// that fits (u64 does not, bool is not a number).
pub(crate) fn decode_i64(dtype: DType, bytes: &[u8]) -> Option<Vec<i64>> {
    fn map<const N: usize>(b: &[u8], f: impl Fn([u8; N]) -> i64) -> Vec<i64> {
        b.chunks_exact(N)
            .map(|c| f(c.try_into().unwrap()))
            .collect()
    }
    Some(match dtype {
        DType::Int8 => map(bytes, |c: [u8; 1]| i64::from(i8::from_le_bytes(c))),
        DType::Uint8 => map(bytes, |c: [u8; 1]| i64::from(c[0])),
        DType::Int16 => map(bytes, |c| i64::from(i16::from_le_bytes(c))),
        DType::Uint16 => map(bytes, |c| i64::from(u16::from_le_bytes(c))),
        DType::Int32 => map(bytes, |c| i64::from(i32::from_le_bytes(c))),
        DType::Uint32 => map(bytes, |c| i64::from(u32::from_le_bytes(c))),
        DType::Int64 => map(bytes, i64::from_le_bytes),
        _ => return None,
    })
}

/// IEEE 754 binary16 to binary32, exact for every input (f32 holds every f16 value).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man * 2^-24. Normalise the mantissa into f32's implicit-one form.
            let shift = man.leading_zeros() - 21; // places to move the top set bit to bit 10
            let man = (man << shift) & 0x3ff;
            let exp = 127 - 15 + 1 - shift;
            sign | (exp << 23) | (man << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (man << 13), // inf / NaN (payload kept)
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_special_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0200), 2f32.powi(-15));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn f16_every_finite_value_round_trips_through_f64_arithmetic() {
        for h in 0u16..=0xffff {
            let exp = (h >> 10) & 0x1f;
            if exp == 0x1f {
                continue;
            }
            let man = f64::from(h & 0x3ff);
            let mag = if exp == 0 {
                man * 2f64.powi(-24)
            } else {
                (1.0 + man / 1024.0) * 2f64.powi(i32::from(exp) - 15)
            };
            let want = if h >> 15 == 1 { -mag } else { mag };
            assert_eq!(f64::from(f16_to_f32(h)), want, "h = {h:#06x}");
        }
    }

    #[test]
    fn integer_widening() {
        assert_eq!(
            decode_i64(DType::Int32, &(-5i32).to_le_bytes()),
            Some(vec![-5])
        );
        assert_eq!(
            decode_i64(DType::Uint32, &u32::MAX.to_le_bytes()),
            Some(vec![i64::from(u32::MAX)])
        );
        assert_eq!(decode_i64(DType::Int8, &[0xff, 1]), Some(vec![-1, 1]));
        assert_eq!(decode_i64(DType::Uint64, &[0; 8]), None);
        assert_eq!(decode_f32(DType::Int64, &[0; 8]), None);
    }

    #[test]
    fn display_names_the_tf_enum() {
        assert_eq!(DType::String.to_string(), "DT_STRING (7)");
        assert_eq!(DType::from_proto(21).to_string(), "DataType 21");
        for v in 0..30 {
            assert_eq!(DType::from_proto(v).proto_value(), v);
        }
    }
}
