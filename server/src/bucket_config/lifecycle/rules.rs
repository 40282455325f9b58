//! Lifecycle rules compiled for use: which objects a rule applies to, when its actions fall due
//! (S3's rounding up to midnight UTC, or a compressed test day), and what is due for a version.

use super::{parse_date, LifecycleConfiguration, Rule};
use coffer_storage::{AgeScan, LifecycleVersion, ObjectRecord};

pub const DAY_MS: i64 = 86_400_000;

/// How lifecycle days are counted: real days rounded up to midnight UTC as S3 does, or (for
/// tests, `--lifecycle-day-secs`) days of a fixed length counted exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    day_ms: Option<i64>,
}

impl Clock {
    pub fn new(day_secs: Option<u64>) -> Clock {
        Clock { day_ms: day_secs.map(|s| s as i64 * 1000) }
    }

    pub fn is_compressed(&self) -> bool {
        self.day_ms.is_some()
    }

    /// When something that started at `start_ms` is `days` old.
    pub fn due(&self, start_ms: i64, days: i64) -> i64 {
        match self.day_ms {
            Some(day) => start_ms.saturating_add(days.saturating_mul(day)),
            None => real_due(start_ms, days),
        }
    }
}

impl Clock {
    /// The latest start time that is `days` old by `now_ms` (everything started at or before
    /// it is due, nothing after it is): the bound of an age scan.
    pub fn latest_due_start(&self, now_ms: i64, days: i64) -> i64 {
        match self.day_ms {
            Some(day) => now_ms.saturating_sub(days.saturating_mul(day)),
            // real_due(s, days) <= now  <=>  s + days <= the last midnight at or before now
            None => (now_ms - now_ms.rem_euclid(DAY_MS)).saturating_sub(days.saturating_mul(DAY_MS)),
        }
    }
}

/// One scan by age the rules need: the versions it visits, up to which time, and a name for
/// its cursor (the same threshold of two rules is one scan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    pub id: String,
    pub kind: AgeScan,
    pub bound_ms: i64,
}

/// `start_ms` plus `days` real days, rounded up to the next midnight UTC.
pub fn real_due(start_ms: i64, days: i64) -> i64 {
    let t = start_ms.saturating_add(days.saturating_mul(DAY_MS));
    match t.rem_euclid(DAY_MS) {
        0 => t,
        // Saturating: a count of days past the end of time is never due.
        r => t.saturating_sub(r).saturating_add(DAY_MS),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Days(i64),
    /// Milliseconds since the epoch (a midnight).
    Date(i64),
}

impl When {
    fn due(self, clock: &Clock, start_ms: i64) -> i64 {
        match self {
            When::Days(d) => clock.due(start_ms, d),
            When::Date(ms) => ms,
        }
    }
}

/// One enabled rule, ready to match.
#[derive(Clone, Debug)]
struct Compiled {
    id: String,
    /// Every prefix the rule names (rule-level, Filter, And): a key must start with all.
    prefixes: Vec<String>,
    tags: Vec<(String, String)>,
    greater_than: Option<u64>,
    less_than: Option<u64>,
    expire: Option<When>,
    expired_delete_markers: bool,
    /// NoncurrentDays and NewerNoncurrentVersions.
    noncurrent: Option<(i64, u64)>,
    /// Transitions of current versions: when, and to which storage class.
    transitions: Vec<(When, String)>,
    /// Transitions of noncurrent versions: NoncurrentDays, NewerNoncurrentVersions, class.
    noncurrent_transitions: Vec<(i64, u64, String)>,
    abort_after_days: Option<i64>,
}

/// What the lifecycle worker should do with one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Expire the current version (delete it, or add a delete marker in a versioned bucket).
    ExpireCurrent,
    /// Permanently remove a noncurrent version.
    RemoveNoncurrent,
    /// Permanently remove a delete marker that is the only version of its key.
    RemoveDeleteMarker,
    /// Give the version another storage class (which moves it to that class's tier).
    Transition(String),
}

/// The enabled rules of a bucket's lifecycle configuration.
#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    rules: Vec<Compiled>,
}

impl Compiled {
    fn new(rule: &Rule) -> Compiled {
        let filter = rule.filter.clone().unwrap_or_default();
        let and = filter.and.clone().unwrap_or_default();
        let prefixes = [rule.prefix.clone(), filter.prefix.clone(), and.prefix.clone()].into_iter().flatten().filter(|p| !p.is_empty());
        let tags = filter.tag.iter().chain(and.tags.iter()).map(|t| (t.key.clone(), t.value.clone())).collect();
        let to_u64 = |v: Option<i64>| v.map(|v| v.max(0) as u64);
        let exp = rule.expiration.clone().unwrap_or_default();
        let expire = match (exp.days, exp.date.as_deref().map(parse_date)) {
            (Some(d), _) => Some(When::Days(d)),
            (None, Some(Ok(ms))) => Some(When::Date(ms)),
            _ => None,
        };
        let noncurrent = rule
            .noncurrent_version_expiration
            .as_ref()
            .and_then(|n| Some((n.noncurrent_days?, n.newer_noncurrent_versions.unwrap_or(0).max(0) as u64)));
        let transitions = rule
            .transitions
            .iter()
            .filter_map(|t| {
                let when = match (t.days, t.date.as_deref().map(parse_date)) {
                    (Some(d), _) => When::Days(d),
                    (None, Some(Ok(ms))) => When::Date(ms),
                    _ => return None,
                };
                Some((when, t.storage_class.clone()?))
            })
            .collect();
        let noncurrent_transitions = rule
            .noncurrent_transitions
            .iter()
            .filter_map(|t| Some((t.noncurrent_days?, t.newer_noncurrent_versions.unwrap_or(0).max(0) as u64, t.storage_class.clone()?)))
            .collect();
        Compiled {
            transitions,
            noncurrent_transitions,
            id: rule.id.clone().unwrap_or_default(),
            prefixes: prefixes.collect(),
            tags,
            greater_than: to_u64(filter.object_size_greater_than.or(and.object_size_greater_than)),
            less_than: to_u64(filter.object_size_less_than.or(and.object_size_less_than)),
            expire,
            expired_delete_markers: exp.expired_object_delete_marker == Some(true),
            noncurrent,
            abort_after_days: rule.abort_incomplete_multipart_upload.as_ref().and_then(|a| a.days_after_initiation),
        }
    }

    fn key_matches(&self, key: &str) -> bool {
        self.prefixes.iter().all(|p| key.starts_with(p.as_str()))
    }

    /// Whether the rule applies to a version: delete markers have no tags or size, so only
    /// rules without tags apply to them, by key alone.
    fn applies(&self, rec: &ObjectRecord) -> bool {
        if !self.key_matches(&rec.key) {
            return false;
        }
        if rec.delete_marker {
            return self.tags.is_empty();
        }
        self.tags.iter().all(|(k, v)| rec.meta.tags.iter().any(|(tk, tv)| tk == k && tv == v))
            && self.greater_than.is_none_or(|g| rec.size > g)
            && self.less_than.is_none_or(|l| rec.size < l)
    }

    /// The longest prefix every key the rule applies to starts with.
    fn scan_prefix(&self) -> &str {
        self.prefixes.iter().max_by_key(|p| p.len()).map(String::as_str).unwrap_or("")
    }

    fn acts_on_objects(&self) -> bool {
        self.expire.is_some()
            || self.expired_delete_markers
            || self.noncurrent.is_some()
            || !self.transitions.is_empty()
            || !self.noncurrent_transitions.is_empty()
    }
}

impl Lifecycle {
    pub fn compile(config: &LifecycleConfiguration) -> Lifecycle {
        Lifecycle { rules: config.rules.iter().filter(|r| r.status == "Enabled").map(Compiled::new).collect() }
    }

    /// Whether any enabled rule expires current versions by Days or Date (the only rules the
    /// x-amz-expiration header speaks of).
    pub fn expires_objects(&self) -> bool {
        self.rules.iter().any(|r| r.expire.is_some())
    }

    /// The x-amz-expiration header of a current version: the earliest expiry any enabled
    /// Expiration(Days|Date) rule gives it, in real days whatever the clock.
    pub fn expiration_header(&self, rec: &ObjectRecord) -> Option<String> {
        if !rec.is_latest || rec.delete_marker {
            return None;
        }
        let clock = Clock::default();
        let (due, id) = self
            .rules
            .iter()
            .filter(|r| r.applies(rec))
            .filter_map(|r| Some((r.expire?.due(&clock, rec.modified_ms), r.id.as_str())))
            .min_by_key(|(due, _)| *due)?;
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(due.max(0) as u64);
        Some(format!("expiry-date=\"{}\", rule-id=\"{}\"", httpdate::fmt_http_date(at), id))
    }

    /// The key prefixes that hold every object some rule acts on, none inside another ("" for
    /// the whole bucket); empty when no rule acts on objects.
    pub fn scan_prefixes(&self) -> Vec<String> {
        let mut prefixes: Vec<&str> = self.rules.iter().filter(|r| r.acts_on_objects()).map(Compiled::scan_prefix).collect();
        prefixes.sort_unstable();
        let mut out: Vec<String> = Vec::new();
        for p in prefixes {
            if !out.last().is_some_and(|last| p.starts_with(last.as_str())) {
                out.push(p.to_string());
            }
        }
        out
    }

    /// The age scans that find every version some rule may act on now. Each visits the
    /// versions that crossed one threshold (N days old, or a Date that passed) since its cursor,
    /// so a version is looked at once per threshold, not on every pass. Rules that act as soon
    /// as something happens (ExpiredObjectDeleteMarker, NewerNoncurrentVersions) scan up to
    /// now, which visits each new delete marker or noncurrent version once.
    pub fn scans(&self, clock: &Clock, now_ms: i64) -> Vec<Scan> {
        let mut out: Vec<Scan> = Vec::new();
        let mut add = |id: String, kind: AgeScan, bound_ms: i64| {
            if !out.iter().any(|s| s.id == id) {
                out.push(Scan { id, kind, bound_ms });
            }
        };
        for r in &self.rules {
            let whens = r.expire.iter().chain(r.transitions.iter().map(|(w, _)| w));
            for when in whens {
                match *when {
                    When::Days(d) => add(format!("current-{d}d"), AgeScan::Current, clock.latest_due_start(now_ms, d)),
                    When::Date(ms) if now_ms >= ms => add("current-dated".into(), AgeScan::Current, now_ms),
                    When::Date(_) => {}
                }
            }
            if r.expired_delete_markers {
                add("markers".into(), AgeScan::DeleteMarkers, now_ms);
            }
            let noncurrent = r.noncurrent.iter().copied().chain(r.noncurrent_transitions.iter().map(|(d, keep, _)| (*d, *keep)));
            for (days, keep) in noncurrent {
                add(format!("noncurrent-{days}d"), AgeScan::Noncurrent, clock.latest_due_start(now_ms, days));
                if keep > 0 {
                    add("noncurrent-new".into(), AgeScan::Noncurrent, now_ms);
                }
            }
        }
        out
    }

    /// The fewest days after which some rule aborts uploads, if any rule does.
    pub fn abort_after_days(&self) -> Option<i64> {
        self.rules.iter().filter_map(|r| r.abort_after_days).min()
    }

    /// What is due for a version now, and the rule that makes it due. Expirations come
    /// before transitions; of the transitions due, the one due last wins (so an object past
    /// both of a rule's transitions goes straight to the later class).
    pub fn decide(&self, clock: &Clock, now_ms: i64, v: &LifecycleVersion) -> Option<(Decision, &str)> {
        let rec = &v.record;
        let rules = || self.rules.iter().filter(|r| r.applies(rec));
        let found = if rec.is_latest && !rec.delete_marker {
            let expired = rules().find(|r| r.expire.is_some_and(|w| now_ms >= w.due(clock, rec.modified_ms)));
            match expired {
                Some(r) => Some((Decision::ExpireCurrent, r)),
                None => rules()
                    .flat_map(|r| r.transitions.iter().map(move |(w, class)| (w.due(clock, rec.modified_ms), class, r)))
                    .filter(|(due, _, _)| now_ms >= *due)
                    .max_by_key(|(due, _, _)| *due)
                    .filter(|(_, class, _)| !has_class(rec, class))
                    .map(|(_, class, r)| (Decision::Transition(class.clone()), r)),
            }
        } else if rec.is_latest {
            // A delete marker left alone: ExpiredObjectDeleteMarker removes it at once, an
            // expiration by age once it is as old as an object would be.
            let alone = v.versions == 1;
            rules()
                .find(|r| alone && (r.expired_delete_markers || r.expire.is_some_and(|w| now_ms >= w.due(clock, rec.modified_ms))))
                .map(|r| (Decision::RemoveDeleteMarker, r))
        } else {
            let since = v.successor_ms?;
            let removed = rules().find(|r| r.noncurrent.is_some_and(|(days, keep)| now_ms >= clock.due(since, days) && v.newer_noncurrent >= keep));
            match removed {
                Some(r) => Some((Decision::RemoveNoncurrent, r)),
                None if rec.delete_marker => None,
                None => rules()
                    .flat_map(|r| r.noncurrent_transitions.iter().map(move |(days, keep, class)| (clock.due(since, *days), *keep, class, r)))
                    .filter(|(due, keep, _, _)| now_ms >= *due && v.newer_noncurrent >= *keep)
                    .max_by_key(|(due, _, _, _)| *due)
                    .filter(|(_, _, class, _)| !has_class(rec, class))
                    .map(|(_, _, class, r)| (Decision::Transition(class.clone()), r)),
            }
        };
        found.map(|(d, r)| (d, r.id.as_str()))
    }

    /// The rule that aborts an upload of `key` started at `initiated_ms`, if one is due now.
    pub fn upload_due(&self, clock: &Clock, now_ms: i64, key: &str, initiated_ms: i64) -> Option<&str> {
        self.rules
            .iter()
            .filter(|r| r.key_matches(key))
            .find(|r| r.abort_after_days.is_some_and(|d| now_ms >= clock.due(initiated_ms, d)))
            .map(|r| r.id.as_str())
    }
}

/// Whether a version has storage class `class` already (no class is STANDARD).
fn has_class(rec: &ObjectRecord, class: &str) -> bool {
    rec.meta.storage_class.as_deref().unwrap_or("STANDARD") == class
}

impl Clock {
    /// The latest start time that can be due now after `days` (a bound for index queries;
    /// what it finds is checked exactly afterwards).
    pub fn started_by(&self, now_ms: i64, days: i64) -> i64 {
        now_ms.saturating_sub(days.saturating_mul(self.day_ms.unwrap_or(DAY_MS)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::xml;
    use coffer_storage::ObjectMeta;

    fn rules(body: &str) -> Lifecycle {
        let mut c: LifecycleConfiguration = xml::parse(body.as_bytes()).unwrap();
        c.validate().unwrap();
        Lifecycle::compile(&c)
    }

    #[test]
    fn days_too_many_to_count_are_never_due() {
        // A rule of i64::MAX days saturates at the end of time; rounding that up to the next
        // midnight overflowed (a panic in debug builds, "due long ago" in release ones).
        let r = rules("<LifecycleConfiguration><Rule><ID>r</ID><Prefix></Prefix><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>9223372036854775807</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>");
        assert_eq!(r.upload_due(&Clock::new(None), 1_700_000_000_000, "k", 0), None);
        assert_eq!(real_due(0, i64::MAX), i64::MAX);
    }

    fn version(key: &str, size: u64, tags: &[(&str, &str)], modified_ms: i64) -> LifecycleVersion {
        let meta = ObjectMeta { tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() };
        let record = ObjectRecord {
            bucket_id: 1,
            key: key.into(),
            version_id: "null".into(),
            is_latest: true,
            delete_marker: false,
            size,
            etag: String::new(),
            modified_ms,
            owner_id: String::new(),
            meta,
            placement: Default::default(),
            replication: None,
        };
        LifecycleVersion { seq: 1, record, successor_ms: None, newer_noncurrent: 0, versions: 1 }
    }

    #[test]
    fn latest_due_starts_are_exactly_the_due_ones() {
        let t = 1_700_000_000_000; // 2023-11-14T22:13:20Z
        for clock in [Clock::default(), Clock::new(Some(2))] {
            for days in [0, 1, 3] {
                let bound = clock.latest_due_start(t, days);
                assert!(clock.due(bound, days) <= t);
                assert!(clock.due(bound + 1, days) > t, "{clock:?} {days}");
            }
        }
    }

    #[test]
    fn scans_cover_each_threshold_once() {
        let r = rules(
            "<LifecycleConfiguration>\
             <Rule><ID>a</ID><Filter></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration>\
             <Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>\
             <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>\
             <Rule><ID>b</ID><Prefix>x/</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
             <Rule><ID>c</ID><Prefix>y/</Prefix><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>\
             </LifecycleConfiguration>",
        );
        let ids: Vec<String> = r.scans(&Clock::new(Some(1)), 100_000).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["current-30d", "current-1d", "noncurrent-2d", "noncurrent-new", "markers"]);
    }

    #[test]
    fn due_times_round_up_to_midnight_unless_compressed() {
        let t = 1_700_000_000_000; // 2023-11-14T22:13:20Z
        assert_eq!(real_due(t, 1), 1_700_092_800_000); // 2023-11-16T00:00:00Z
        assert_eq!(real_due(1_700_006_400_000, 1), 1_700_092_800_000); // a midnight stays
        assert_eq!(Clock::default().due(t, 1), real_due(t, 1));
        assert_eq!(Clock::new(Some(2)).due(t, 3), t + 6_000);
        assert_eq!(Clock::new(Some(2)).started_by(t, 3), t - 6_000);
    }

    #[test]
    fn filters_pick_the_objects_and_the_earliest_rule_names_the_header() {
        let r = rules(
            "<LifecycleConfiguration>\
             <Rule><ID>late</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>90</Days></Expiration></Rule>\
             <Rule><ID>soon</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>t</Key><Value>1</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
             <Rule><ID>off</ID><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
             </LifecycleConfiguration>",
        );
        let t = 1_700_000_000_000;
        let plain = version("logs/a", 100, &[], t);
        let tagged = version("logs/a", 100, &[("t", "1")], t);
        let small = version("logs/a", 5, &[("t", "1")], t);
        let header = |v: &LifecycleVersion| r.expiration_header(&v.record);
        assert_eq!(header(&plain).unwrap(), "expiry-date=\"Tue, 13 Feb 2024 00:00:00 GMT\", rule-id=\"late\"");
        assert_eq!(header(&tagged).unwrap(), "expiry-date=\"Thu, 16 Nov 2023 00:00:00 GMT\", rule-id=\"soon\"");
        assert!(header(&small).unwrap().contains("late"));
        assert_eq!(header(&version("data/a", 100, &[], t)), None);
        let clock = Clock::new(Some(1));
        assert_eq!(r.decide(&clock, t + 999, &tagged), None);
        assert_eq!(r.decide(&clock, t + 1000, &tagged), Some((Decision::ExpireCurrent, "soon")));
        assert_eq!(r.decide(&clock, t + 1000, &plain), None);
        assert_eq!(r.scan_prefixes(), vec!["logs/".to_string()]);
    }

    #[test]
    fn noncurrent_versions_and_lone_delete_markers() {
        let r = rules(
            "<LifecycleConfiguration><Rule><ID>nc</ID><Filter></Filter><Status>Enabled</Status>\
             <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
             <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>\
             <AbortIncompleteMultipartUpload><DaysAfterInitiation>3</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>",
        );
        let clock = Clock::new(Some(1));
        let mut old = version("k", 1, &[], 0);
        old.record.is_latest = false;
        old.successor_ms = Some(10_000);
        old.versions = 3;
        // Becomes noncurrent at 10 s, due 2 "days" later, once a newer noncurrent one is kept.
        assert_eq!(r.decide(&clock, 11_999, &LifecycleVersion { newer_noncurrent: 1, ..old.clone() }), None);
        assert_eq!(r.decide(&clock, 12_000, &LifecycleVersion { newer_noncurrent: 0, ..old.clone() }), None);
        assert_eq!(r.decide(&clock, 12_000, &LifecycleVersion { newer_noncurrent: 1, ..old.clone() }).unwrap().0, Decision::RemoveNoncurrent);
        let mut marker = version("k", 0, &[], 0);
        marker.record.delete_marker = true;
        marker.versions = 2;
        assert_eq!(r.decide(&clock, 1, &marker), None);
        marker.versions = 1;
        assert_eq!(r.decide(&clock, 1, &marker).unwrap().0, Decision::RemoveDeleteMarker);
        assert_eq!(r.upload_due(&clock, 2_999, "k", 0), None);
        assert_eq!(r.upload_due(&clock, 3_000, "k", 0), Some("nc"));
        assert_eq!(r.scan_prefixes(), vec![String::new()]);
    }

    #[test]
    fn the_transition_due_last_wins_and_a_version_in_that_class_stays() {
        let r = rules(
            "<LifecycleConfiguration><Rule><ID>t</ID><Filter></Filter><Status>Enabled</Status>\
             <Transition><Days>1</Days><StorageClass>STANDARD_IA</StorageClass></Transition>\
             <Transition><Days>7</Days><StorageClass>GLACIER</StorageClass></Transition>\
             <NoncurrentVersionTransition><NoncurrentDays>2</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>\
             </Rule></LifecycleConfiguration>",
        );
        let clock = Clock::new(Some(1));
        let mut v = version("k", 1, &[], 0);
        assert_eq!(r.decide(&clock, 999, &v), None);
        assert_eq!(r.decide(&clock, 1_000, &v).unwrap().0, Decision::Transition("STANDARD_IA".into()));
        assert_eq!(r.decide(&clock, 7_000, &v).unwrap().0, Decision::Transition("GLACIER".into()));
        v.record.meta.storage_class = Some("STANDARD_IA".into());
        assert_eq!(r.decide(&clock, 6_999, &v), None);
        v.record.meta.storage_class = Some("GLACIER".into());
        assert_eq!(r.decide(&clock, 9_000, &v), None);
        let mut old = version("k", 1, &[], 0);
        old.record.is_latest = false;
        old.successor_ms = Some(1_000);
        assert_eq!(r.decide(&clock, 2_999, &old), None);
        assert_eq!(r.decide(&clock, 3_000, &old).unwrap().0, Decision::Transition("GLACIER".into()));
    }
}
