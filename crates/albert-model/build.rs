fn main() {
    torch_link::emit();
    torch_link::link_cuda_into_tests();
    println!("cargo:rerun-if-changed=csrc/int8_linear.cpp");
    torch_link::cxx_shim()
        .file("csrc/int8_linear.cpp")
        .compile("albert_ner_int8_linear");
}
