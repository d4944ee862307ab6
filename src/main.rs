//! The `edigate` binary: parses the command line and hands over to the library.

// Mapping runs allocate many small values; mimalloc handles that pattern far better than the
// system allocator (see benches/engine.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc asks for transparent huge pages on its arena, so the first touch of each 2 MiB
/// region is zeroed whole: about 8 MiB more resident memory and a millisecond more start-up
/// for a process whose heap is a few MiB (`benches/startup.py`, `benches/memory.py`). Turned
/// off before the runtime's first allocation, as the process starts.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static NO_HUGE_PAGES: extern "C" fn() = {
    extern "C" fn no_huge_pages() {
        // SAFETY: prctl with PR_SET_THP_DISABLE reads only its integer arguments.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    no_huge_pages
};

fn main() -> std::process::ExitCode {
    edigate::cli::main()
}
