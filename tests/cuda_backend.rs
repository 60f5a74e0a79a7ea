//! `device::select` loads libtorch's CUDA backend at run time (the binaries do not link it) early
//! enough that libtorch uses it: on a GPU machine the device is CUDA; on this project's GPU-less build
//! hosts, device=cuda fails with libtorch's reason naming the missing driver or device, not the
//! missing CUDA library (which is what libtorch says when the backend is absent or loaded too late).

use albert_ner::device::select;
use ner_settings::Device;

fn mapped(library: &str) -> bool {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .contains(library)
}

#[test]
fn device_cuda_loads_the_backend_in_time() {
    assert!(
        !mapped("libtorch_cuda.so"),
        "the test binary must not link libtorch_cuda.so"
    );
    match select(Device::Cuda) {
        Ok(device) => assert_eq!(device, tch::Device::Cuda(0)),
        Err(e) => {
            let msg = e.to_string();
            eprintln!("{msg}");
            assert!(mapped("libtorch_cuda.so"), "the backend was loaded");
            assert!(msg.contains("no CUDA device is visible"), "{msg}");
            for sign_of_no_backend in ["ATen_cuda", "'CUDA' backend", "CUDA library"] {
                assert!(
                    !msg.contains(sign_of_no_backend),
                    "libtorch did not pick up the backend: {msg}"
                );
            }
        }
    }
}
