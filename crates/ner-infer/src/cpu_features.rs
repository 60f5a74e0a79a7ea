//! What this CPU can compute in, from the flags Linux reports in `/proc/cpuinfo`.

/// The flags that give a CPU bf16 arithmetic libtorch's oneDNN kernels use: AVX-512 BF16 (Cooper
/// Lake, Zen 4 and later) or AMX-BF16 (Sapphire Rapids and later).
pub const BF16_FLAGS: [&str; 2] = ["avx512_bf16", "amx_bf16"];

/// Whether this CPU has one of [`BF16_FLAGS`]; false where `/proc/cpuinfo` cannot be read.
pub fn cpu_has_bf16() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|text| flags_have_bf16(&text))
}

/// Whether the first `flags` line of a `/proc/cpuinfo` text names one of [`BF16_FLAGS`].
pub fn flags_have_bf16(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "flags").then_some(value)
        })
        .is_some_and(|flags| flags.split_whitespace().any(|f| BF16_FLAGS.contains(&f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_is_read_from_the_flags_line_only() {
        let with = "processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n";
        let amx = "flags\t: fpu amx_tile amx_bf16\n";
        let without = "model name\t: avx512_bf16 lookalike\nflags\t\t: fpu sse avx2 avx512f\n";
        assert!(flags_have_bf16(with));
        assert!(flags_have_bf16(amx));
        assert!(!flags_have_bf16(without));
        assert!(!flags_have_bf16(""));
    }
}
