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

/// Emits an rpath to libtorch (so nobody sets `LD_LIBRARY_PATH`) and, where the libtorch build has
/// CUDA, links `libtorch_cuda.so` with `--no-as-needed`: nothing in our code references its symbols,
/// so the linker would otherwise drop it and `tch::Cuda::is_available()` would report false.
pub fn emit() {
    let dir = libtorch_lib_dir();
    let dir = dir.display();
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    if PathBuf::from(dir.to_string())
        .join("libtorch_cuda.so")
        .exists()
    {
        println!("cargo:rustc-link-arg=-Wl,-L,{dir},--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
