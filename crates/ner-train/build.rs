fn main() {
    torch_link::emit();
    torch_link::link_cuda_into_tests();
}
