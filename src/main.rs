//! The `edigate` binary: parses the command line and hands over to the library.

// Mapping runs allocate many small values; mimalloc handles that pattern far better than the
// system allocator (see benches/engine.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    edigate::cli::main()
}
