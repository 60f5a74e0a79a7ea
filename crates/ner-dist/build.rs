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
    println!("cargo:rerun-if-changed=csrc/process_group.cpp");
    torch_link::cxx_shim()
        .include(gloo_include())
        .define("USE_C10D_GLOO", None)
        .file("csrc/process_group.cpp")
        .compile("ner_dist_c10d");
}
