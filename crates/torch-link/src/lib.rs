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

/// A C++17 build against libtorch's headers with its ABI setting, for a crate's shim over what tch
/// does not expose (`LIBTORCH_CXX11_ABI`, default 1, as torch-sys reads it), with this crate's
/// `include/` (`shim_errors.h`: how a shim hands exceptions to Rust). Add the files and compile.
pub fn cxx_shim() -> cc::Build {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include");
    println!(
        "cargo:rerun-if-changed={}",
        shared.join("shim_errors.h").display()
    );
    let include = libtorch_lib_dir()
        .parent()
        .expect("libtorch lib dir has a parent")
        .join("include");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .include(&shared)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"));
    build
}
