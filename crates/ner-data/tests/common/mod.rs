//! What the tests that read `../shared` share.

use std::path::PathBuf;

/// `../shared`'s path from `ALBERT_NER_SHARED`. Unset, `None` with a notice naming `what` is skipped
/// (a user's clone has no shared/), unless `ALBERT_NER_REQUIRE_SHARED` is set (CI, which always has
/// it beside the clone): there a test that cannot run fails.
pub fn shared_dir(what: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ALBERT_NER_SHARED") {
        return Some(PathBuf::from(dir));
    }
    assert!(
        std::env::var_os("ALBERT_NER_REQUIRE_SHARED").is_none(),
        "ALBERT_NER_REQUIRE_SHARED is set but ALBERT_NER_SHARED is not: {what} cannot run"
    );
    eprintln!("ALBERT_NER_SHARED not set: skipping {what}");
    None
}
