//! Compiles the c10d shim against the libtorch that torch-sys links, with gloo's headers from
//! `vendor/gloo`: the gloo commit that torch 2.11.0 was built with (`vendor/gloo/PROVENANCE.md`);
//! and, where libtorch has CUDA and the CUDA and NCCL headers are in the venv (requirements/torch.txt),
//! `libner_dist_nccl.so`: ProcessGroupNCCL in a library of its own, loaded only where a GPU is used.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The torch release whose gloo is vendored; another torch needs its own gloo's headers.
const VENDORED_GLOO_TORCH: &str = "2.11.0";

/// gloo's headers as torch 2.11.0 was built with them: the wheel ships none, and any other gloo's
/// (a distribution's libgloo-dev) need not agree with the gloo code inside libtorch_cpu.so.
fn gloo_include() -> PathBuf {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=vendor/gloo");
    manifest.join("vendor/gloo/include")
}

/// Refuses a libtorch other than the one the vendored gloo belongs to, naming what to do, rather
/// than compiling against headers that may not describe its gloo.
fn check_torch_version() {
    let lib = torch_link::libtorch_lib_dir();
    let version_py = lib
        .parent()
        .expect("torch/lib sits in the torch package")
        .join("version.py");
    println!("cargo:rerun-if-changed={}", version_py.display());
    let Ok(text) = std::fs::read_to_string(&version_py) else {
        println!(
            "cargo:warning=no {}: cannot check that libtorch is torch {VENDORED_GLOO_TORCH}, whose gloo \
             headers vendor/gloo holds",
            version_py.display()
        );
        return;
    };
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim_matches(['\'', '"']))
        .unwrap_or("unknown");
    let release = version.split('+').next().unwrap_or(version);
    assert!(
        release == VENDORED_GLOO_TORCH,
        "libtorch is torch {version}, but vendor/gloo holds the gloo headers of torch \
         {VENDORED_GLOO_TORCH}: vendor the gloo commit that torch {release} pins (third_party/gloo; \
         see vendor/gloo/PROVENANCE.md) and update VENDORED_GLOO_TORCH and the sizes in \
         csrc/process_group.cpp"
    );
}

fn main() {
    torch_link::emit();
    torch_link::link_cuda_into_tests();
    check_torch_version();
    println!("cargo:rerun-if-changed=csrc/process_group.cpp");
    torch_link::cxx_shim()
        .include(gloo_include())
        .define("USE_C10D_GLOO", None)
        .file("csrc/process_group.cpp")
        .compile("ner_dist_c10d");
    nccl_library();
}

/// Builds `libner_dist_nccl.so` into OUT_DIR and beside the binaries (the target profile directory),
/// and tells the crate where it is (`NER_DIST_NCCL_LIB`). Skipped, with a warning, where libtorch has
/// no CUDA or the headers are missing: the binaries then carry CUDA tensors over Gloo.
fn nccl_library() {
    println!("cargo:rerun-if-changed=csrc/nccl_backend.cpp");
    let lib = torch_link::libtorch_lib_dir();
    let site = lib
        .parent()
        .and_then(Path::parent)
        .expect("torch/lib sits in site-packages/torch");
    let cuda = site.join("nvidia/cu13/include");
    let nccl = site.join("nvidia/nccl/include");
    let needed = [
        lib.join("libtorch_cuda.so"),
        cuda.join("cuda_runtime.h"),
        cuda.join("crt/host_defines.h"),
        cuda.join("cccl/cuda/std/version"),
        nccl.join("nccl.h"),
    ];
    if let Some(missing) = needed.iter().find(|p| !p.exists()) {
        println!(
            "cargo:warning=no NCCL backend library: {} is missing (make venv installs the CUDA headers)",
            missing.display()
        );
        return;
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let out = out_dir.join("libner_dist_nccl.so");
    let compiler = torch_link::cxx_shim()
        .include(&cuda)
        .include(cuda.join("cccl"))
        .include(&nccl)
        .define("USE_C10D_NCCL", None)
        .get_compiler();
    let mut cmd: Command = compiler.to_command();
    cmd.arg("-shared")
        .arg("csrc/nccl_backend.cpp")
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{}", lib.display()))
        .args([
            "-Wl,--no-as-needed",
            "-ltorch_cuda",
            "-lc10_cuda",
            "-Wl,--as-needed",
        ])
        .args(["-ltorch_cpu", "-lc10"])
        .arg(format!("-Wl,-rpath,{}", lib.display()));
    let status = cmd.status().expect("running the C++ compiler");
    assert!(
        status.success(),
        "compiling csrc/nccl_backend.cpp failed: {cmd:?}"
    );
    // Beside the binaries: OUT_DIR is target/<profile>/build/ner-dist-*/out.
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        let _ = std::fs::copy(&out, profile_dir.join("libner_dist_nccl.so"));
    }
    println!("cargo:rustc-env=NER_DIST_NCCL_LIB={}", out.display());
}
