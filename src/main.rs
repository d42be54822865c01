//! The `paystat` binary: the command line over the paystat library. It knows no HTTP;
//! everything about gateways goes through [`paystat::Checker`].

mod cli;

// mimalloc rather than the system allocator: a bulk run allocates and frees on several threads
// at once (checks, their answers, audit lines), and a profile put about 7% of its CPU in
// glibc's arena locks, heap trimming and consolidation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
