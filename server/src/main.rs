//! The `coffer` command: `serve` runs the S3 server; `admin` manages users, access keys, MFA
//! devices, KMS keys and bucket quotas in a data dir, shows what it holds, checks it, shows the
//! scrubber's findings and takes backups. Admin commands find the data dir as `serve` does.

use clap::{Parser, Subcommand};
use coffer_server::admin::KeyedDir;
use coffer_server::{account_admin, admin, app, bucket_admin, config, upkeep};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "coffer", version, about = "Coffer: a self-hosted, S3-compatible object store")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the S3 server.
    Serve(config::Overrides),
    /// Administrative tasks on a data dir (safe while the server runs).
    Admin {
        /// Print JSON instead of tables (for scripts).
        #[arg(long, global = true)]
        json: bool,
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
    /// Manage access keys: several per user, so a key can be rotated out without downtime.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Buckets: what they hold, and their quotas.
    Bucket {
        #[command(subcommand)]
        command: BucketCommand,
    },
    /// The store as a whole: version, data dir, disk use, the running server, counts.
    Info {
        #[command(flatten)]
        dir: DirOptions,
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
        keys: DirOptions,
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
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Unregister a target no bucket's configuration names; its queued events are dropped.
    Remove {
        name: String,
        #[command(flatten)]
        dir: DirOptions,
    },
}

impl NotifyCommand {
    fn run(self, json: bool) -> Result<(), String> {
        use coffer_server::notify_admin::{self, Destination};
        match self {
            NotifyCommand::Add { name, webhook, auth_token, amqp, exchange, routing_key, max_backlog, keys } => {
                let destination = match (webhook, amqp, exchange) {
                    (Some(url), None, None) => Destination::Webhook { url, auth_token },
                    (None, Some(url), Some(exchange)) => Destination::Amqp { url, exchange, routing_key },
                    _ => return Err("give either --webhook, or --amqp with --exchange".into()),
                };
                notify_admin::add(KeyedDir::of(&keys.resolve()?), &name, destination, max_backlog)
            }
            NotifyCommand::List { dir } => notify_admin::list(&dir.site()?, json),
            NotifyCommand::Remove { name, dir } => notify_admin::remove(&dir.site()?, &name),
        }
    }
}

#[derive(Subcommand)]
enum ReplicationCommand {
    /// Versions pending, failed and completed, the oldest pending, the last error.
    Status {
        bucket: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Replicate what the bucket already holds: walk it (restartably) and queue every version
    /// its rules take that the destination lacks; with --failed only versions that FAILED.
    Resync {
        bucket: String,
        #[arg(long)]
        failed: bool,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Each replicated version (tab-separated): key, version id, status, target, the version id
    /// it has on a remote target, and why it failed if it did.
    Versions {
        bucket: String,
        #[command(flatten)]
        dir: DirOptions,
    },
}

impl ReplicationCommand {
    fn run(self, json: bool) -> Result<(), String> {
        match self {
            ReplicationCommand::Status { bucket, dir } => upkeep::replication_status(&dir.site()?, &bucket, json),
            ReplicationCommand::Resync { bucket, failed, dir } => upkeep::start_resync(&dir.site()?, &bucket, failed),
            ReplicationCommand::Versions { bucket, dir } => upkeep::replicated_versions(&dir.site()?, &bucket),
        }
    }
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
    fn run(self, json: bool) -> Result<(), String> {
        use coffer_storage::tiers::{TierKind, TierSpec};
        match self {
            TierCommand::Add { name, dir, remote, bucket, prefix, storage_classes, archive, keys } => {
                let kind = match (dir, remote, bucket) {
                    (Some(path), None, None) => TierKind::Dir { path },
                    (None, Some(remote), Some(bucket)) => TierKind::Remote { remote, bucket, prefix },
                    _ => return Err("give either --dir, or --remote with --bucket".into()),
                };
                coffer_server::tier_admin::add_tier(KeyedDir::of(&keys.resolve()?), TierSpec { name, kind, storage_classes, archive })
            }
            TierCommand::List { keys } => coffer_server::tier_admin::list_tiers(KeyedDir::of(&keys.resolve()?), json),
            TierCommand::Remove { name, keys } => coffer_server::tier_admin::remove_tier(KeyedDir::of(&keys.resolve()?), &name),
        }
    }
}

impl RemoteCommand {
    fn run(self, json: bool) -> Result<(), String> {
        match self {
            RemoteCommand::Add { name, endpoint, access_key, secret_key, region, virtual_hosted, keys } => {
                let spec = coffer_storage::tiers::RemoteSpec { name, endpoint, region, access_key, path_style: !virtual_hosted };
                coffer_server::tier_admin::add_remote(KeyedDir::of(&keys.resolve()?), spec, &secret_key)
            }
            RemoteCommand::List { keys } => coffer_server::tier_admin::list_remotes(KeyedDir::of(&keys.resolve()?), json),
            RemoteCommand::Remove { name, keys } => coffer_server::tier_admin::remove_remote(KeyedDir::of(&keys.resolve()?), &name),
        }
    }
}

#[derive(Subcommand)]
enum ScrubCommand {
    /// Show the pass under way, the last finished pass and the corrupt blobs found.
    Status {
        #[command(flatten)]
        dir: DirOptions,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// The blobs are copied: let garbage collection remove unreferenced blobs again.
    Done {
        #[command(flatten)]
        dir: DirOptions,
    },
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    dir: DirOptions,
    /// Fix reference counts and remove orphan blob files; list what cannot be fixed.
    #[arg(long)]
    repair: bool,
    /// Check only that blobs exist with the right size, without re-hashing their bytes.
    #[arg(long)]
    quick: bool,
    /// Seconds an unindexed blob file must be old to count as an orphan (younger ones may be
    /// writes in flight).
    #[arg(long, default_value_t = 900)]
    grace: u64,
}

impl CheckArgs {
    fn run(self, json: bool) -> Result<(), String> {
        let options = coffer_storage::check::CheckOptions {
            verify_hashes: !self.quick,
            orphan_grace: std::time::Duration::from_secs(self.grace),
            repair: self.repair,
        };
        let config = self.dir.resolve()?;
        admin::check(admin::KeyedDir::of(&config), &options, json)
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
/// server's: secrets and key material are stored sealed under it), from the same flags,
/// environment and `--config` file as `coffer serve`.
#[derive(clap::Args)]
struct DirOptions {
    #[command(flatten)]
    target: config::AdminOverrides,
}

impl DirOptions {
    fn resolve(&self) -> Result<config::Config, String> {
        self.target.resolve(None)
    }

    fn site(&self) -> Result<coffer_storage::Site, String> {
        Ok(self.resolve()?.site())
    }

    /// The data dir of a command that reads the SQLite index file itself (`command` names it).
    fn sqlite_data_dir(&self, command: &str) -> Result<PathBuf, String> {
        admin::sqlite_data_dir(&self.site()?, command)
    }
}

#[derive(clap::Args)]
struct KmsOptions {
    #[command(flatten)]
    dir: DirOptions,
    /// The region in the ARNs shown (default: the server's region).
    #[arg(long, env = "COFFER_REGION")]
    region: Option<String>,
}

impl KmsCommand {
    fn run(self, json: bool) -> Result<(), String> {
        let (options, action) = match self {
            KmsCommand::Create { name, options } => (options, admin::KmsAction::Create(name)),
            KmsCommand::List { options } => (options, admin::KmsAction::List),
            KmsCommand::Rotate { name, options } => (options, admin::KmsAction::Rotate(name)),
            KmsCommand::Disable { name, options } => (options, admin::KmsAction::Disable(name)),
            KmsCommand::Enable { name, options } => (options, admin::KmsAction::Enable(name)),
        };
        let config = options.dir.target.resolve(options.region)?;
        admin::kms(KeyedDir::of(&config), &config.region, action, json)
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
    /// List the users with their keys and buckets.
    List {
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Show a user: id, keys, buckets, MFA device.
    Info {
        name: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Delete a user and its keys (refused while it owns buckets).
    Delete {
        name: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Disable every key of a user (not root's).
    Disable {
        name: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Enable every key of a user.
    Enable {
        name: String,
        #[command(flatten)]
        dir: DirOptions,
    },
}

impl UserCommand {
    fn run(self, json: bool) -> Result<(), String> {
        use account_admin::UserAction;
        let (dir, action) = match self {
            UserCommand::Create { name, access_key, secret_key, dir } => {
                return admin::create_user(KeyedDir::of(&dir.resolve()?), &name, access_key, secret_key, json)
            }
            UserCommand::List { dir } => (dir, UserAction::List),
            UserCommand::Info { name, dir } => (dir, UserAction::Info(name)),
            UserCommand::Delete { name, dir } => (dir, UserAction::Delete(name)),
            UserCommand::Disable { name, dir } => (dir, UserAction::SetEnabled(name, false)),
            UserCommand::Enable { name, dir } => (dir, UserAction::SetEnabled(name, true)),
        };
        account_admin::user(KeyedDir::of(&dir.resolve()?), action, json)
    }
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Add a new key to a user and print it with its secret (shown only now).
    Create {
        user: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// List the keys (of one user, or everyone's) without their secrets.
    List {
        user: Option<String>,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Disable a key: requests signed with it get 403 InvalidAccessKeyId (within a second on a
    /// running server).
    Disable {
        access_key: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Enable a disabled key again.
    Enable {
        access_key: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Delete a key for good.
    Delete {
        access_key: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Replace a key: a new key for its user (printed with its secret) and the old one disabled.
    Rotate {
        access_key: String,
        #[command(flatten)]
        dir: DirOptions,
    },
}

impl KeyCommand {
    fn run(self, json: bool) -> Result<(), String> {
        use account_admin::KeyAction;
        let (dir, action) = match self {
            KeyCommand::Create { user, dir } => (dir, KeyAction::Create(user)),
            KeyCommand::List { user, dir } => (dir, KeyAction::List(user)),
            KeyCommand::Disable { access_key, dir } => (dir, KeyAction::Disable(access_key)),
            KeyCommand::Enable { access_key, dir } => (dir, KeyAction::Enable(access_key)),
            KeyCommand::Delete { access_key, dir } => (dir, KeyAction::Delete(access_key)),
            KeyCommand::Rotate { access_key, dir } => (dir, KeyAction::Rotate(access_key)),
        };
        account_admin::key(KeyedDir::of(&dir.resolve()?), action, json)
    }
}

#[derive(Subcommand)]
enum BucketCommand {
    /// List every bucket with its owner, usage and quota.
    List {
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Show a bucket: objects, versions, logical and stored bytes, quota, configuration.
    Info {
        bucket: String,
        #[command(flatten)]
        dir: DirOptions,
    },
    /// Show or set the bucket's quota: writes that would pass it fail with 403 QuotaExceeded.
    #[command(group(clap::ArgGroup::new("change").multiple(true).args(["max_bytes", "max_objects"]).conflicts_with("clear")))]
    Quota {
        bucket: String,
        /// Most bytes the bucket's versions may hold, e.g. 1073741824, 10GB or 5GiB.
        #[arg(long, value_parser = bucket_admin::parse_size)]
        max_bytes: Option<u64>,
        /// Most objects (keys whose latest version is not a delete marker).
        #[arg(long)]
        max_objects: Option<u64>,
        /// Remove both limits.
        #[arg(long)]
        clear: bool,
        #[command(flatten)]
        dir: DirOptions,
    },
}

impl BucketCommand {
    fn run(self, json: bool) -> Result<(), String> {
        use bucket_admin::QuotaAction;
        match self {
            BucketCommand::List { dir } => bucket_admin::list(&dir.site()?, json),
            BucketCommand::Info { bucket, dir } => bucket_admin::info(&dir.site()?, &bucket, json),
            BucketCommand::Quota { bucket, max_bytes, max_objects, clear, dir } => {
                let action = match (clear, max_bytes, max_objects) {
                    (true, _, _) => QuotaAction::Clear,
                    (false, None, None) => QuotaAction::Show,
                    (false, max_bytes, max_objects) => QuotaAction::Set(coffer_storage::Quota { max_bytes, max_objects }),
                };
                bucket_admin::quota(&dir.site()?, &bucket, action, json)
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (json, command) = match cli.command {
        Command::Serve(overrides) => return exit(config::Config::resolve(overrides).and_then(app::run)),
        Command::Admin { json, command } => (json, command),
    };
    exit(match command {
        AdminCommand::User { command } => command.run(json),
        AdminCommand::Key { command } => command.run(json),
        AdminCommand::Bucket { command } => command.run(json),
        AdminCommand::Info { dir } => dir.site().and_then(|s| bucket_admin::store_info(&s, json)),
        AdminCommand::Mfa { command: MfaCommand::Enable { user, dir } } => dir.resolve().and_then(|c| admin::enable_mfa(KeyedDir::of(&c), &user)),
        AdminCommand::Kms { command } => command.run(json),
        AdminCommand::Scrub { command: ScrubCommand::Status { dir } } => dir.sqlite_data_dir("scrub status").and_then(|d| upkeep::scrub_status(&d, json)),
        AdminCommand::Backup { command: Some(BackupCommand::Done { dir }), .. } => dir.sqlite_data_dir("backup done").and_then(|d| upkeep::backup_done(&d)),
        AdminCommand::Backup { command: None, dest, include_master_key, gc_hold, keys } => match dest {
            Some(dest) => keys.resolve().and_then(|c| {
                let data_dir = admin::sqlite_data_dir(&c.site(), "backup")?;
                upkeep::backup(&data_dir, &upkeep::BackupOptions { dest, include_master_key, master_key_file: c.master_key_file.clone(), gc_hold })
            }),
            None => Err("name the backup's directory: coffer admin backup DEST".into()),
        },
        AdminCommand::Check(args) => args.run(json),
        AdminCommand::Tier { command } => command.run(json),
        AdminCommand::Remote { command } => command.run(json),
        AdminCommand::Notify { command } => command.run(json),
        AdminCommand::Replication { command } => command.run(json),
    })
}

fn exit(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e}");
            ExitCode::FAILURE
        }
    }
}
