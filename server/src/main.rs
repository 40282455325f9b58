//! The `coffer` command: `serve` runs the S3 server; `admin` manages users, MFA devices and KMS
//! keys in a data dir, and checks it.

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
    /// Manage the built-in KMS keyring (the keys SSE-KMS encrypts with).
    Kms {
        #[command(subcommand)]
        command: KmsCommand,
    },
    /// Check the index against the blob directory (safe while the server runs); exits non-zero
    /// while problems remain.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Fix reference counts and remove orphan blob files; list what cannot be fixed.
    #[arg(long)]
    repair: bool,
    /// Check only that blobs exist with the right size, without re-hashing their bytes.
    #[arg(long)]
    quick: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds an unindexed blob file must be old to count as an orphan (younger ones may be
    /// writes in flight).
    #[arg(long, default_value_t = 900)]
    grace: u64,
}

impl CheckArgs {
    fn run(self) -> Result<(), String> {
        let options = coffer_storage::check::CheckOptions {
            verify_hashes: !self.quick,
            orphan_grace: std::time::Duration::from_secs(self.grace),
            repair: self.repair,
        };
        admin::check(&self.data_dir, &options, self.json)
    }
}

#[derive(Subcommand)]
enum KmsCommand {
    /// Create a key and print its name, id and ARN.
    Create {
        name: String,
        #[command(flatten)]
        options: KmsOptions,
    },
    /// List the keys: name, id, enabled, current version, creation time.
    List {
        #[command(flatten)]
        options: KmsOptions,
    },
    /// Add a new version of a key's material; data keys wrapped by older versions still open.
    Rotate {
        name: String,
        #[command(flatten)]
        options: KmsOptions,
    },
    /// Disable a key: objects encrypted under it can be neither written nor read.
    Disable {
        name: String,
        #[command(flatten)]
        options: KmsOptions,
    },
    /// Enable a disabled key again.
    Enable {
        name: String,
        #[command(flatten)]
        options: KmsOptions,
    },
}

#[derive(clap::Args)]
struct KmsOptions {
    #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// File holding the base64 master key (as for `serve`); COFFER_MASTER_KEY overrides it.
    #[arg(long, env = "COFFER_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The region in the ARNs shown (the server's region).
    #[arg(long, env = "COFFER_REGION", default_value = config::DEFAULT_REGION)]
    region: String,
}

impl KmsCommand {
    fn run(self) -> Result<(), String> {
        let (options, action) = match self {
            KmsCommand::Create { name, options } => (options, admin::KmsAction::Create(name)),
            KmsCommand::List { options } => (options, admin::KmsAction::List),
            KmsCommand::Rotate { name, options } => (options, admin::KmsAction::Rotate(name)),
            KmsCommand::Disable { name, options } => (options, admin::KmsAction::Disable(name)),
            KmsCommand::Enable { name, options } => (options, admin::KmsAction::Enable(name)),
        };
        admin::kms(&options.data_dir, options.master_key_file.as_deref(), &options.region, action)
    }
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
        Command::Admin { command: AdminCommand::Kms { command } } => command.run(),
        Command::Admin { command: AdminCommand::Check(args) } => args.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e}");
            ExitCode::FAILURE
        }
    }
}
