//! The `natsdr-lab` binary: the lab, the demo, the chaos suite and the benchmark.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    natsdr_lab::cli::main()
}
