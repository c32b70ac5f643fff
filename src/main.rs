//! The `natsdr` binary: parse the command line, run it, exit with its code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    natsdr::cli::main()
}
