//! The C functions of `csrc/process_group.cpp`.

use std::os::raw::{c_char, c_int, c_void};

use torch_sys::C_tensor;

extern "C" {
    pub fn ner_dist_new(
        master: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        timeout_ms: i64,
        backend: c_int,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    pub fn ner_dist_free(group: *mut c_void);
    pub fn ner_dist_free_error(err: *mut c_char);
    pub fn ner_dist_all_reduce_sum(
        group: *mut c_void,
        tensor: *mut C_tensor,
        err: *mut *mut c_char,
    ) -> c_int;
    pub fn ner_dist_all_reduce_max(
        group: *mut c_void,
        tensor: *mut C_tensor,
        err: *mut *mut c_char,
    ) -> c_int;
    pub fn ner_dist_broadcast(
        group: *mut c_void,
        tensor: *mut C_tensor,
        root: c_int,
        err: *mut *mut c_char,
    ) -> c_int;
    pub fn ner_dist_barrier(group: *mut c_void, err: *mut *mut c_char) -> c_int;
    pub fn ner_dist_store_set(
        group: *mut c_void,
        key: *const c_char,
        value: *const c_char,
        err: *mut *mut c_char,
    ) -> c_int;
    pub fn ner_dist_store_client_new(
        master: *const c_char,
        port: c_int,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    pub fn ner_dist_store_client_free(client: *mut c_void);
    pub fn ner_dist_store_client_set(
        client: *mut c_void,
        key: *const c_char,
        value: *const c_char,
        err: *mut *mut c_char,
    ) -> c_int;
    pub fn ner_dist_store_get(
        group: *mut c_void,
        key: *const c_char,
        found: *mut c_int,
        value: *mut *mut c_char,
        err: *mut *mut c_char,
    ) -> c_int;
}

/// Takes ownership of a message the shim malloc'd.
///
/// # Safety
/// `err` is null or a pointer the shim returned and nobody freed.
pub unsafe fn take_message(err: *mut c_char) -> String {
    if err.is_null() {
        return "unknown error".into();
    }
    let message = std::ffi::CStr::from_ptr(err).to_string_lossy().into_owned();
    ner_dist_free_error(err);
    message
}
