//! The `coffer` command: `serve` runs the S3 server; `admin` manages users in a data dir.

use clap::{Parser, Subcommand};
use coffer_server::{admin, app, config};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "coffer", version, about = "Coffer: a self-hosted, S3-compatible object store")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the S3 server.
    Serve(config::Overrides),
    /// Administrative tasks on a data dir (safe while the server runs).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage MFA (TOTP) devices for MFA delete.
    Mfa {
        #[command(subcommand)]
        command: MfaCommand,
    },
}

#[derive(Subcommand)]
enum MfaCommand {
    /// Register a new TOTP device for a user (replacing any earlier one) and print its secret.
    Enable {
        user: String,
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print its access key and secret key.
    Create {
        name: String,
        #[arg(long)]
        access_key: Option<String>,
        #[arg(long)]
        secret_key: Option<String>,
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(overrides) => config::Config::resolve(overrides).and_then(app::run),
        Command::Admin { command: AdminCommand::User { command: UserCommand::Create { name, access_key, secret_key, data_dir } } } => {
            admin::create_user(&data_dir, &name, access_key, secret_key)
        }
        Command::Admin { command: AdminCommand::Mfa { command: MfaCommand::Enable { user, data_dir } } } => admin::enable_mfa(&data_dir, &user),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e}");
            ExitCode::FAILURE
        }
    }
}
