fn main() {
    torch_link::emit();
    torch_link::link_cuda_into_tests();
    let lib = torch_link::libtorch_lib_dir();
    let include = lib
        .parent()
        .expect("libtorch lib dir has a parent")
        .join("include");
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .file("csrc/autocast.cpp")
        .compile("albert_ner_autocast");
}
