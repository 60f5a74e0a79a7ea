//! Linking: binaries find libtorch through an rpath, and do not link `libtorch_cuda.so` (the CUDA stack
//! would cost every CPU run ~350 MB); they load it at run time from the same directory where a GPU can
//! use it (`src/device.rs`, tested in `tests/cuda_backend.rs`).

use std::path::Path;

use object::read::elf::{Dyn, ElfFile64, FileHeader};
use object::{elf, Endianness};

/// DT_NEEDED and DT_RUNPATH/DT_RPATH entries of an ELF binary.
fn dynamic_entries(path: &Path) -> (Vec<String>, Vec<String>) {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = ElfFile64::<Endianness>::parse(&*data).unwrap();
    let endian = file.endian();
    let header = file.elf_header();
    let sections = header.sections(endian, &*data).unwrap();
    let (dynamic, index) = sections
        .dynamic(endian, &*data)
        .unwrap()
        .expect("a dynamic section");
    // `dynamic` returns the index of its linked string table (.dynstr).
    let strings = sections.strings(endian, &*data, index).unwrap();
    let (mut needed, mut paths) = (Vec::new(), Vec::new());
    for d in dynamic {
        let tag = d.d_tag(endian) as u32;
        let value = d.d_val(endian) as u32;
        let text = || String::from_utf8_lossy(strings.get(value).unwrap()).into_owned();
        match tag {
            elf::DT_NEEDED => needed.push(text()),
            elf::DT_RUNPATH | elf::DT_RPATH => paths.push(text()),
            _ => {}
        }
    }
    (needed, paths)
}

fn check_binary(path: &Path) {
    let (needed, paths) = dynamic_entries(path);
    assert!(
        needed.iter().any(|n| n == "libtorch_cpu.so"),
        "{}: libtorch_cpu.so not in DT_NEEDED {needed:?}",
        path.display()
    );
    assert!(
        !needed.iter().any(|n| n == "libtorch_cuda.so"),
        "{}: libtorch_cuda.so is linked, so CPU runs map the CUDA stack: {needed:?}",
        path.display()
    );
    let torch_lib = paths
        .iter()
        .flat_map(|p| p.split(':'))
        .find(|p| Path::new(p).join("libtorch_cpu.so").exists());
    let torch_lib = torch_lib.unwrap_or_else(|| {
        panic!(
            "{}: no rpath entry holds libtorch_cpu.so: {paths:?}",
            path.display()
        )
    });
    assert!(
        Path::new(torch_lib).join("libtorch_cuda.so").exists(),
        "{}: the rpath directory {torch_lib} has no libtorch_cuda.so to load on a GPU",
        path.display()
    );
}

#[test]
fn test_binaries_find_libtorch_through_an_rpath() {
    check_binary(Path::new(env!("CARGO_BIN_EXE_train")));
    check_binary(Path::new(env!("CARGO_BIN_EXE_predict")));
}

/// `make test` builds the release binaries first and sets ALBERT_NER_REQUIRE_RELEASE=1, so there this
/// checks exactly what ships.
#[test]
fn release_binaries_find_libtorch_through_an_rpath() {
    let release = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release");
    let required = std::env::var_os("ALBERT_NER_REQUIRE_RELEASE").is_some();
    for bin in ["train", "predict"] {
        let path = release.join(bin);
        if path.exists() {
            check_binary(&path);
        } else {
            assert!(!required, "{} missing: run `make build`", path.display());
            eprintln!(
                "skipping {}: not built (make test builds it)",
                path.display()
            );
        }
    }
}

#[test]
fn binaries_start_without_ld_library_path() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_train"))
        .arg("--help")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
