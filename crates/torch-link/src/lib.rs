//! Linker arguments for every package that builds binaries or tests against libtorch.
//!
//! Call [`emit`] from the package's `build.rs`; the package must depend on `torch-sys` directly so
//! that Cargo hands its build script `DEP_TCH_LIBTORCH_LIB` (torch-sys has `links = "tch"`).

use std::env;
use std::path::PathBuf;

/// The libtorch library directory torch-sys linked against.
pub fn libtorch_lib_dir() -> PathBuf {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    PathBuf::from(
        env::var("DEP_TCH_LIBTORCH_LIB").expect(
            "DEP_TCH_LIBTORCH_LIB unset: add torch-sys as a direct dependency of this package",
        ),
    )
}

/// Emits an rpath to libtorch, so nobody sets `LD_LIBRARY_PATH`. `libtorch_cuda.so` is deliberately
/// not linked (the linker's `--as-needed` drops it anyway, nothing references its symbols): the
/// binaries `dlopen` it from this same directory when they choose a GPU, so CPU runs do not map the
/// CUDA stack.
pub fn emit() {
    let dir = libtorch_lib_dir();
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}

/// Links `libtorch_cuda.so` into this package's test binaries only (`--no-as-needed`, since nothing
/// references its symbols), so their CUDA tests run where there is a GPU. Tests start many threads
/// that seed and allocate at once; a backend `dlopen`ed by one of them could come after libtorch has
/// cached "no CUDA", so tests link it instead. Where the libtorch build has no CUDA, does nothing.
pub fn link_cuda_into_tests() {
    let dir = libtorch_lib_dir();
    if dir.join("libtorch_cuda.so").exists() {
        println!(
            "cargo:rustc-link-arg-tests=-Wl,-L,{},--no-as-needed,-ltorch_cuda,--as-needed",
            dir.display()
        );
    }
}
