//! The `paystat` binary; everything lives in [`paystat::cli`].

fn main() -> std::process::ExitCode {
    paystat::cli::main()
}
