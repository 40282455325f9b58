//! Where a store lives: its data dir (this node's own files: staging, and the blobs unless
//! they are kept elsewhere) and its metadata, the index: SQLite inside the data dir, or a
//! PostgreSQL database that several nodes share.

use std::fmt;
use std::path::PathBuf;

/// Where the index lives.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Metadata {
    /// `index.sqlite` in the data dir (the default).
    #[default]
    DataDir,
    /// A PostgreSQL database, as a `postgres://` URL or a libpq `key=value` string. It may
    /// hold a password, so it is never shown (see `Display`).
    Postgres(String),
}

impl std::str::FromStr for Metadata {
    type Err = String;

    /// `sqlite` (or nothing) for the data dir; a `postgres://` / `postgresql://` URL or a libpq
    /// `key=value` string for PostgreSQL.
    fn from_str(s: &str) -> Result<Metadata, String> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("sqlite") {
            return Ok(Metadata::DataDir);
        }
        let config: tokio_postgres::Config =
            s.parse().map_err(|e| format!("metadata: neither `sqlite` nor a PostgreSQL URL (postgres://USER@HOST:PORT/DB): {e}"))?;
        if config.get_hosts().is_empty() {
            return Err("metadata: the PostgreSQL URL names no host".into());
        }
        Ok(Metadata::Postgres(s.to_string()))
    }
}

/// Names the index without its password: `SQLite in the data dir`, or `PostgreSQL database
/// DB on HOST:PORT as USER`.
impl fmt::Display for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metadata::DataDir => f.write_str("SQLite in the data dir"),
            Metadata::Postgres(url) => {
                let Ok(config) = url.parse::<tokio_postgres::Config>() else { return f.write_str("PostgreSQL") };
                let host = match config.get_hosts().first() {
                    Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                    #[cfg(unix)]
                    Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                    None => "?".into(),
                };
                let port = config.get_ports().first().copied().unwrap_or(5432);
                write!(f, "PostgreSQL database {} on {host}:{port}", config.get_dbname().unwrap_or("(default)"))?;
                match config.get_user() {
                    Some(user) => write!(f, " as {user}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A store's data dir and its metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Site {
    pub data_dir: PathBuf,
    pub metadata: Metadata,
}

impl Site {
    /// The store kept wholly in `data_dir`.
    pub fn data_dir(data_dir: impl Into<PathBuf>) -> Site {
        Site { data_dir: data_dir.into(), metadata: Metadata::DataDir }
    }
}

/// The name this data dir's node goes by in a shared index's leases: made up once and kept
/// in the data dir (`node-id`), so a restarted node takes its own leases straight back
/// instead of waiting for them to lapse.
pub(crate) fn node_name(data_dir: &std::path::Path) -> std::io::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_string()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => {
            let name = format!("{:016x}", rand::random::<u64>());
            let mut file = crate::perms::write_file(&path, format!("{name}\n").as_bytes())?;
            std::io::Write::flush(&mut file)?;
            file.sync_all()?;
            Ok(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_hides_the_password() {
        assert_eq!("".parse::<Metadata>().unwrap(), Metadata::DataDir);
        assert_eq!("SQLite".parse::<Metadata>().unwrap(), Metadata::DataDir);
        let m: Metadata = "postgres://coffer:s3cret@127.0.0.1:5433/meta".parse().unwrap();
        let shown = m.to_string();
        assert_eq!(shown, "PostgreSQL database meta on 127.0.0.1:5433 as coffer");
        assert!(!format!("{m:?}").contains("s3cret"));
        let m: Metadata = "host=127.0.0.1 port=55432 user=coffer password=pw dbname=x".parse().unwrap();
        assert_eq!(m.to_string(), "PostgreSQL database x on 127.0.0.1:55432 as coffer");
        assert!("mysql://x".parse::<Metadata>().is_err());
    }

    #[test]
    fn a_data_dir_keeps_its_node_name() {
        let dir = tempfile::tempdir().unwrap();
        let first = node_name(dir.path()).unwrap();
        assert_eq!(first.len(), 16);
        assert_eq!(node_name(dir.path()).unwrap(), first);
        assert_ne!(node_name(tempfile::tempdir().unwrap().path()).unwrap(), first);
    }
}
