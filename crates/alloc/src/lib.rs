//! The server's allocator: mimalloc instead of glibc's malloc, tuned for a
//! small idle footprint.
//!
//! Why mimalloc: under max ingest, glibc's allocator was about 19% of the
//! server's samples (malloc and free, arena locks, consolidation), and
//! mimalloc raised max ingest by about a fifth (docs/BENCHMARKS.md).
//!
//! Why the tuning: by default mimalloc commits arena memory eagerly and
//! purges freed memory later, on some later allocation, which an idle
//! process never makes; idle RSS went from 26 to 69 MiB. Committing on
//! demand and purging at once keeps it at 28 MiB, with no measurable cost to
//! max ingest.
//!
//! This crate exists to hold the one unsafe block (an FFI call); the rest of
//! the workspace forbids unsafe code.

pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_e` numbers, the same in mimalloc's v2 and v3 headers.
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies the tuning above. It runs on its own before `main` (below), where
/// it must: the first allocation reserves mimalloc's first arena, eagerly
/// committed unless the option is already off; calling it again is harmless.
pub fn tune() {
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table
    // (plain C longs, read with relaxed loads); any option number and value
    // is accepted, and these two are read only when memory is committed or
    // purged.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

/// Runs `tune` as an ELF constructor, before the Rust runtime's first
/// allocation: priority 101 is the earliest a program may use, ahead of
/// constructors without one (mimalloc's own).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00101")]
static TUNE_BEFORE_MAIN: extern "C" fn() = {
    extern "C" fn tune_before_main() {
        tune();
    }
    tune_before_main
};

#[cfg(test)]
mod tests {
    /// The constructor ran before this test's `main`: nobody called `tune`.
    #[cfg(target_os = "linux")]
    #[test]
    fn tuning_is_applied_before_main() {
        // SAFETY: reading an option has no preconditions.
        let (commit, purge) = unsafe { (libmimalloc_sys::mi_option_get(super::ARENA_EAGER_COMMIT), libmimalloc_sys::mi_option_get(super::PURGE_DELAY)) };
        assert_eq!((commit, purge), (0, 0));
    }
}
