//! The `coffer` command: `serve` runs the S3 server; `admin` manages users, MFA devices and KMS
//! keys in a data dir, checks it, shows the scrubber's findings and takes backups.

use clap::{Parser, Subcommand};
use coffer_server::{admin, app, config, upkeep};
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
    /// The scrubber, which re-reads every blob to find corrupt ones.
    Scrub {
        #[command(subcommand)]
        command: ScrubCommand,
    },
    /// Copy the index, keyring and key fingerprint to DEST while the server runs (then copy
    /// the blobs and run `backup done`; see README "Backup and restore").
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        command: Option<BackupCommand>,
        /// An empty directory (created if missing) for the backup.
        dest: Option<PathBuf>,
        /// Also copy the master key (mode 0600); without it, keep the key's own backup.
        #[arg(long)]
        include_master_key: bool,
        /// How long garbage collection stays held for the copy of the blobs, e.g. 24h.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        gc_hold: std::time::Duration,
        #[command(flatten)]
        keys: KeyOptions,
    },
    /// Check the index against the blob directory (safe while the server runs); exits non-zero
    /// while problems remain.
    Check(CheckArgs),
    /// Storage tiers: where versions of a storage class live (see README "Lifecycle and tiers").
    Tier {
        #[command(subcommand)]
        command: TierCommand,
    },
    /// Remote S3 endpoints that tiers store on.
    Remote {
        #[command(subcommand)]
        command: RemoteCommand,
    },
    /// Bucket replication.
    Replication {
        #[command(subcommand)]
        command: ReplicationCommand,
    },
    /// Targets of event notifications: webhooks and AMQP exchanges (see README "Notifications").
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
}

#[derive(Subcommand)]
enum NotifyCommand {
    /// Register a target (or change the one of that name) and print the ARN that bucket
    /// notification configurations name it by.
    #[command(group(clap::ArgGroup::new("destination").required(true).args(["webhook", "amqp"])))]
    Add {
        name: String,
        /// POST each event to this http:// or https:// URL.
        #[arg(long)]
        webhook: Option<String>,
        /// Send `Authorization: Bearer TOKEN` with each POST (stored sealed).
        #[arg(long, env = "COFFER_NOTIFY_AUTH_TOKEN", requires = "webhook")]
        auth_token: Option<String>,
        /// Publish each event to the AMQP broker at this amqp:// URL (stored sealed when it
        /// carries a password).
        #[arg(long, requires = "exchange")]
        amqp: Option<String>,
        /// The exchange to publish to (it must exist).
        #[arg(long, requires = "amqp")]
        exchange: Option<String>,
        /// The routing key (default: the bucket's name).
        #[arg(long, requires = "amqp")]
        routing_key: Option<String>,
        /// Most events queued for the target at once; more are dropped and counted.
        #[arg(long, default_value_t = coffer_storage::DEFAULT_MAX_BACKLOG)]
        max_backlog: u64,
        #[command(flatten)]
        keys: DirOptions,
    },
    /// List the targets with their queues: queued, delivered and dropped events, the last error.
    List {
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Unregister a target no bucket's configuration names; its queued events are dropped.
    Remove {
        name: String,
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

impl NotifyCommand {
    fn run(self) -> Result<(), String> {
        use coffer_server::notify_admin::{self, Destination};
        match self {
            NotifyCommand::Add { name, webhook, auth_token, amqp, exchange, routing_key, max_backlog, keys } => {
                let destination = match (webhook, amqp, exchange) {
                    (Some(url), None, None) => Destination::Webhook { url, auth_token },
                    (None, Some(url), Some(exchange)) => Destination::Amqp { url, exchange, routing_key },
                    _ => return Err("give either --webhook, or --amqp with --exchange".into()),
                };
                notify_admin::add(keys.keyed(), &name, destination, max_backlog)
            }
            NotifyCommand::List { data_dir } => notify_admin::list(&data_dir),
            NotifyCommand::Remove { name, data_dir } => notify_admin::remove(&data_dir, &name),
        }
    }
}

#[derive(Subcommand)]
enum ReplicationCommand {
    /// Versions pending, failed and completed, the oldest pending, the last error.
    Status {
        bucket: String,
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Replicate what the bucket already holds: walk it (restartably) and queue every version
    /// its rules take that the destination lacks; with --failed only versions that FAILED.
    Resync {
        bucket: String,
        #[arg(long)]
        failed: bool,
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Each replicated version (tab-separated): key, version id, status, target, the version id
    /// it has on a remote target, and why it failed if it did.
    Versions {
        bucket: String,
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum TierCommand {
    /// Register a tier: a directory, or a bucket on a remote; versions of its storage classes move there.
    #[command(group(clap::ArgGroup::new("place").required(true).args(["dir", "remote"])))]
    Add {
        name: String,
        /// A directory on this machine (absolute path), created if missing.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A remote registered with `coffer admin remote add`.
        #[arg(long, requires = "bucket")]
        remote: Option<String>,
        /// The remote's bucket to store in.
        #[arg(long, requires = "remote")]
        bucket: Option<String>,
        /// A key prefix for the blobs in that bucket.
        #[arg(long, default_value = "", requires = "remote")]
        prefix: String,
        /// A storage class whose versions live on this tier (repeat for several).
        #[arg(long = "storage-class", required = true)]
        storage_classes: Vec<String>,
        /// Versions on this tier must be restored (RestoreObject) before they can be read.
        #[arg(long)]
        archive: bool,
        #[command(flatten)]
        keys: DirOptions,
    },
    /// List the registered tiers.
    List {
        #[command(flatten)]
        keys: DirOptions,
    },
    /// Unregister a tier that holds no versions.
    Remove {
        name: String,
        #[command(flatten)]
        keys: DirOptions,
    },
}

#[derive(Subcommand)]
enum RemoteCommand {
    /// Register a remote S3 endpoint (its secret key is stored sealed).
    Add {
        name: String,
        /// The endpoint URL, e.g. https://s3.example.net.
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        access_key: String,
        #[arg(long, env = "COFFER_REMOTE_SECRET_KEY")]
        secret_key: String,
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Address buckets as `bucket.host` instead of `host/bucket`.
        #[arg(long)]
        virtual_hosted: bool,
        #[command(flatten)]
        keys: DirOptions,
    },
    /// List the registered remotes (without secrets).
    List {
        #[command(flatten)]
        keys: DirOptions,
    },
    /// Unregister a remote no tier uses.
    Remove {
        name: String,
        #[command(flatten)]
        keys: DirOptions,
    },
}

impl TierCommand {
    fn run(self) -> Result<(), String> {
        use coffer_storage::tiers::{TierKind, TierSpec};
        match self {
            TierCommand::Add { name, dir, remote, bucket, prefix, storage_classes, archive, keys } => {
                let kind = match (dir, remote, bucket) {
                    (Some(path), None, None) => TierKind::Dir { path },
                    (None, Some(remote), Some(bucket)) => TierKind::Remote { remote, bucket, prefix },
                    _ => return Err("give either --dir, or --remote with --bucket".into()),
                };
                coffer_server::tier_admin::add_tier(keys.keyed(), TierSpec { name, kind, storage_classes, archive })
            }
            TierCommand::List { keys } => coffer_server::tier_admin::list_tiers(keys.keyed()),
            TierCommand::Remove { name, keys } => coffer_server::tier_admin::remove_tier(keys.keyed(), &name),
        }
    }
}

impl RemoteCommand {
    fn run(self) -> Result<(), String> {
        match self {
            RemoteCommand::Add { name, endpoint, access_key, secret_key, region, virtual_hosted, keys } => {
                let spec = coffer_storage::tiers::RemoteSpec { name, endpoint, region, access_key, path_style: !virtual_hosted };
                coffer_server::tier_admin::add_remote(keys.keyed(), spec, &secret_key)
            }
            RemoteCommand::List { keys } => coffer_server::tier_admin::list_remotes(keys.keyed()),
            RemoteCommand::Remove { name, keys } => coffer_server::tier_admin::remove_remote(keys.keyed(), &name),
        }
    }
}

#[derive(Subcommand)]
enum ScrubCommand {
    /// Show the pass under way, the last finished pass and the corrupt blobs found.
    Status {
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// The blobs are copied: let garbage collection remove unreferenced blobs again.
    Done {
        #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct KeyOptions {
    #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// File holding the base64 master key (as for `serve`); COFFER_MASTER_KEY overrides it.
    #[arg(long, env = "COFFER_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
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

/// The data dir an admin command works on and the master key it needs (the same as the
/// server's: secrets and key material are stored sealed under it).
#[derive(clap::Args)]
struct DirOptions {
    #[arg(long, env = "COFFER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// File holding the base64 master key (as for `serve`); COFFER_MASTER_KEY overrides it.
    #[arg(long, env = "COFFER_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

impl DirOptions {
    fn keyed(&self) -> admin::KeyedDir<'_> {
        admin::KeyedDir { data_dir: &self.data_dir, master_key_file: self.master_key_file.as_deref() }
    }
}

#[derive(clap::Args)]
struct KmsOptions {
    #[command(flatten)]
    dir: DirOptions,
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
        admin::kms(options.dir.keyed(), &options.region, action)
    }
}

#[derive(Subcommand)]
enum MfaCommand {
    /// Register a new TOTP device for a user (replacing any earlier one) and print its secret.
    Enable {
        user: String,
        #[command(flatten)]
        dir: DirOptions,
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
        #[command(flatten)]
        dir: DirOptions,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(overrides) => config::Config::resolve(overrides).and_then(app::run),
        Command::Admin { command: AdminCommand::User { command: UserCommand::Create { name, access_key, secret_key, dir } } } => {
            admin::create_user(dir.keyed(), &name, access_key, secret_key)
        }
        Command::Admin { command: AdminCommand::Mfa { command: MfaCommand::Enable { user, dir } } } => admin::enable_mfa(dir.keyed(), &user),
        Command::Admin { command: AdminCommand::Kms { command } } => command.run(),
        Command::Admin { command: AdminCommand::Scrub { command: ScrubCommand::Status { data_dir } } } => upkeep::scrub_status(&data_dir),
        Command::Admin { command: AdminCommand::Backup { command: Some(BackupCommand::Done { data_dir }), .. } } => upkeep::backup_done(&data_dir),
        Command::Admin { command: AdminCommand::Backup { command: None, dest, include_master_key, gc_hold, keys } } => match dest {
            Some(dest) => upkeep::backup(&keys.data_dir, &upkeep::BackupOptions { dest, include_master_key, master_key_file: keys.master_key_file, gc_hold }),
            None => Err("name the backup's directory: coffer admin backup DEST".into()),
        },
        Command::Admin { command: AdminCommand::Check(args) } => args.run(),
        Command::Admin { command: AdminCommand::Tier { command } } => command.run(),
        Command::Admin { command: AdminCommand::Remote { command } } => command.run(),
        Command::Admin { command: AdminCommand::Notify { command } } => command.run(),
        Command::Admin { command: AdminCommand::Replication { command: ReplicationCommand::Status { bucket, data_dir } } } => {
            upkeep::replication_status(&data_dir, &bucket)
        }
        Command::Admin { command: AdminCommand::Replication { command: ReplicationCommand::Resync { bucket, failed, data_dir } } } => {
            upkeep::start_resync(&data_dir, &bucket, failed)
        }
        Command::Admin { command: AdminCommand::Replication { command: ReplicationCommand::Versions { bucket, data_dir } } } => {
            upkeep::replicated_versions(&data_dir, &bucket)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e}");
            ExitCode::FAILURE
        }
    }
}
