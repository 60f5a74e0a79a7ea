fn main() {
    println!("cuda available: {}", tch::Cuda::is_available());
}
