//! Compiles the c10d shim against the libtorch that torch-sys links, with gloo's headers from
//! `GLOO_INCLUDE_DIR`, the workspace's `.deps/gloo` (`scripts/setup-gloo-headers.sh`) or `/usr/include`.

use std::path::{Path, PathBuf};

fn gloo_include() -> PathBuf {
    println!("cargo:rerun-if-env-changed=GLOO_INCLUDE_DIR");
    if let Ok(dir) = std::env::var("GLOO_INCLUDE_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let local = manifest.join("../../.deps/gloo/usr/include");
    for dir in [local.as_path(), Path::new("/usr/include")] {
        if dir.join("gloo/config.h").exists() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "gloo's headers were not found: run `make venv` (scripts/setup-gloo-headers.sh), install \
         libgloo-dev, or set GLOO_INCLUDE_DIR"
    );
}

fn main() {
    torch_link::emit();
    torch_link::link_cuda_into_tests();
    let lib = torch_link::libtorch_lib_dir();
    let include = lib
        .parent()
        .expect("libtorch lib dir has a parent")
        .join("include");
    println!("cargo:rerun-if-changed=csrc/process_group.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .include(gloo_include())
        .define("USE_C10D_GLOO", None)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .file("csrc/process_group.cpp")
        .compile("ner_dist_c10d");
}
