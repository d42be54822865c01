//! The `paystat` binary: the command line over the paystat library. It knows no HTTP;
//! everything about gateways goes through [`paystat::Checker`].

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
