fn main() {
    torch_link::emit();
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    torch_link::cxx_shim()
        .file("csrc/autocast.cpp")
        .compile("albert_ner_autocast");
}
