//! Command line: parse with clap and dispatch to the subcommands.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
