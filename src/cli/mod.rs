//! Command line: clap definitions, one function per subcommand, and exit codes.
mod backup;
mod check_config;
mod lint;
mod ops;
mod run;
mod topology;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes shared by every subcommand (sysexits where one fits).
pub mod exit {
    /// Success; for `plan`: no drift.
    pub const OK: u8 = 0;
    /// The operation failed (a server refused, a region is unreachable...).
    pub const FAILURE: u8 = 1;
    /// `plan`: the world differs from the config.
    pub const DRIFT: u8 = 2;
    /// EX_USAGE: bad config or arguments.
    pub const USAGE: u8 = 64;
    /// The watchdog answered no: a command refused, or `status` of a watchdog that is not
    /// healthy.
    pub const REFUSED: u8 = 3;
    /// EX_UNAVAILABLE: a required tool (nats-server, named) is missing, or the watchdog's API
    /// cannot be reached.
    pub const UNAVAILABLE: u8 = 69;
    /// EX_NOPERM: the watchdog refused the token (401, 403).
    pub const UNAUTHORIZED: u8 = 77;
}

/// `natsdr --version`: the version and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NATSDR_COMMIT"),
    ")"
);

/// natsdr: autonomous disaster recovery for NATS JetStream across two regions.
#[derive(Debug, Parser)]
#[command(name = "natsdr", version = VERSION, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file and print the effective config (defaults and environment
    /// overrides applied, secrets redacted). Exits 64 naming the first bad key.
    CheckConfig {
        /// The config file.
        #[arg(env = "NATSDR_CONFIG")]
        config: PathBuf,
    },
    /// Compare both regions' streams, mirrors and KV buckets with the config, changing nothing.
    /// Exit 0: no drift; 2: drift; 1: a region could not be read. A promoted or fenced stream
    /// after a failover is shown as state, not drift.
    Plan {
        /// The config file.
        #[arg(long, env = "NATSDR_CONFIG")]
        config: PathBuf,
    },
    /// Make both regions match the config: create what is missing, fix owned fields by a
    /// read-modify-write of the full stream config. Idempotent; never deletes a stream, never
    /// undoes a failover, never touches fields natsdr does not own.
    Apply {
        /// The config file.
        #[arg(long, env = "NATSDR_CONFIG")]
        config: PathBuf,
    },
    /// Run the watchdog (or the witness): probe both regions, vote, and when the primary is
    /// really gone claim the epoch, fence, promote and swap DNS. Serves the HTTP API.
    Run {
        /// The config file.
        #[arg(long, env = "NATSDR_CONFIG")]
        config: PathBuf,
        /// Log format.
        #[arg(long, env = "NATSDR_LOG_FORMAT", value_enum, default_value = "pretty")]
        log_format: crate::telemetry::logging::LogFormat,
    },
    /// Show a running watchdog's state, epoch, regions, mirror lag and recent transitions.
    /// Exit 0 when it is healthy, 3 when it answered in another state, 69 when unreachable.
    Status {
        #[command(flatten)]
        api: ops::ApiArgs,
        /// Refresh every N seconds until interrupted.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
    },
    /// Stop acting (probing and reporting go on) until `resume`.
    Pause {
        #[command(flatten)]
        args: ops::CommandArgs,
    },
    /// Act again, after a fresh probe round.
    Resume {
        #[command(flatten)]
        args: ops::CommandArgs,
    },
    /// Planned move of the primary to the watchdog's region: fence, wait for lag 0, promote,
    /// DNS. Zero loss; refused when not safe.
    Switchover {
        #[command(flatten)]
        args: ops::CommandArgs,
        /// The region to move the primary to (default: the watchdog's own).
        #[arg(long)]
        to: Option<String>,
    },
    /// Forced move of the primary to the watchdog's region.
    Failover {
        #[command(flatten)]
        args: ops::CommandArgs,
        /// Break-glass: proceed even if the mirrors lag beyond the RPO budget (audited); asks
        /// for a typed confirmation unless --yes.
        #[arg(long)]
        allow_data_loss: bool,
        /// The region to move the primary to (default: the watchdog's own).
        #[arg(long)]
        to: Option<String>,
        /// Skip the typed confirmation of --allow-data-loss (scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Bring the home primary back after a failover (send it to the home primary's watchdog):
    /// capture its divergent tail, reseed it, switch over back (runbooks/failback.md).
    Failback {
        #[command(flatten)]
        args: ops::CommandArgs,
    },
    /// Release a hold (Blocked, FailedOver, SelfFenced) after checking the world.
    Ack {
        #[command(flatten)]
        args: ops::CommandArgs,
    },
    /// Verified backups: take a set, list, verify, restore into a region, drill into a scratch
    /// server (runbooks/restore-from-backup.md).
    Backup {
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `natsdr man | man -l -`.
    Man,
    /// Report what would hurt in an incident (unmirrored streams, mirrored WorkQueue streams,
    /// missing dedupe windows, GDPR subjects reachable from the other region, low replicas,
    /// a DNS TTL above the RTO target). Exits 0, or 2 when there are warnings and --strict.
    Lint {
        /// The config file.
        #[arg(long, env = "NATSDR_CONFIG")]
        config: PathBuf,
        /// Exit 2 when any warning is found (for CI).
        #[arg(long)]
        strict: bool,
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// Parses the command line as `C`. Help and --version are answers, not errors (printed, exit 0);
/// a bad command line is EX_USAGE (clap would say 2, which `plan` and `lint` use for drift and
/// warnings).
pub fn parse<C: Parser>() -> Result<C, ExitCode> {
    C::try_parse().map_err(|e| {
        let usage = e.use_stderr();
        let _ = e.print();
        ExitCode::from(if usage { exit::USAGE } else { exit::OK })
    })
}

/// Parses the command line, runs it, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match parse::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let code = match cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "natsdr", &mut std::io::stdout());
            exit::OK
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                Ok(()) => exit::OK,
                Err(e) => {
                    eprintln!("natsdr: cannot write the manual page: {e}");
                    exit::FAILURE
                }
            }
        }
        Command::CheckConfig { config } => check_config::run(&config),
        Command::Lint {
            config,
            strict,
            json,
        } => lint::run(&config, strict, json),
        Command::Plan { config } => topology::run_plan(&config),
        Command::Run { config, log_format } => run::run(&config, log_format),
        Command::Status { api, watch } => ops::status(&api, watch),
        Command::Pause { args } => ops::command("pause", &args, &ops::Extra::default()),
        Command::Resume { args } => ops::command("resume", &args, &ops::Extra::default()),
        Command::Switchover { args, to } => ops::command(
            "switchover",
            &args,
            &ops::Extra {
                to,
                ..ops::Extra::default()
            },
        ),
        Command::Failover {
            args,
            allow_data_loss,
            to,
            yes,
        } => ops::command(
            "failover",
            &args,
            &ops::Extra {
                allow_data_loss,
                to,
                yes,
            },
        ),
        Command::Failback { args } => ops::command("failback", &args, &ops::Extra::default()),
        Command::Ack { args } => ops::command("ack", &args, &ops::Extra::default()),
        Command::Apply { config } => topology::run_apply(&config),
        Command::Backup { command } => backup::run(command),
    };
    ExitCode::from(code)
}
