use super::*;
use crate::http::xml;

fn parse(body: &str) -> S3Result<LifecycleConfiguration> {
    let mut c: LifecycleConfiguration = xml::parse(body.as_bytes())?;
    c.validate()?;
    Ok(c)
}

fn code(body: &str) -> String {
    parse(body).err().map(|e| e.code.to_string()).unwrap_or_else(|| "ok".into())
}

fn rule(inner: &str) -> String {
    format!("<LifecycleConfiguration><Rule>{inner}</Rule></LifecycleConfiguration>")
}

#[test]
fn round_trips_rules_exactly() {
    let body = "<LifecycleConfiguration>\
        <Rule><ID>logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>90</Days></Expiration></Rule>\
        <Rule><ID>all</ID><Filter><And><Prefix>a/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>k2</Key><Value></Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Disabled</Status>\
        <Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition><Transition><Days>60</Days><StorageClass>GLACIER</StorageClass></Transition>\
        <NoncurrentVersionTransition><NoncurrentDays>5</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>\
        <NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
        <Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>\
        <Rule><ID>empty</ID><Filter></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
        <Rule><ID>e</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>\
        </LifecycleConfiguration>";
    let config = parse(body).unwrap();
    assert_eq!(config.rules.len(), 4);
    assert_eq!(config.rules[0].prefix.as_deref(), Some("logs/"));
    assert!(config.rules[0].filter.is_none());
    assert_eq!(config.rules[2].filter, Some(Filter::default()));
    assert_eq!(config.rules[3].filter.as_ref().unwrap().prefix.as_deref(), Some(""));
    // XML out and back, and JSON (as stored) out and back, change nothing.
    let rendered = xml::render("LifecycleConfiguration", &config).unwrap();
    assert_eq!(parse(&rendered).unwrap(), config);
    let stored: LifecycleConfiguration = serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
    assert_eq!(stored, config);
    assert!(rendered.contains("<Prefix>logs/</Prefix><Status>"), "{rendered}");
}

#[test]
fn ids_are_generated_limited_and_unique() {
    let c = parse(&rule("<Prefix>a</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>")).unwrap();
    assert!(!c.rules[0].id.as_deref().unwrap().is_empty());
    let long = format!("<ID>{}</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>", "a".repeat(256));
    assert_eq!(code(&rule(&long)), "InvalidArgument");
    let twice = "<LifecycleConfiguration>\
        <Rule><ID>r</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
        <Rule><ID>r</ID><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule></LifecycleConfiguration>";
    assert_eq!(code(twice), "InvalidArgument");
}

#[test]
fn s3_error_codes() {
    let cases = [
        ("<Status>enabled</Status><Expiration><Days>1</Days></Expiration>", "MalformedXML"),
        ("<Expiration><Days>1</Days></Expiration>", "MalformedXML"),
        ("<Status>Enabled</Status><Expiration><Days>0</Days></Expiration>", "InvalidArgument"),
        ("<Status>Enabled</Status><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>", "MalformedXML"),
        ("<Status>Enabled</Status><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>", "InvalidArgument"),
        ("<Status>Enabled</Status><Expiration><Date>1970-08-22T19:28:21Z</Date></Expiration>", "InvalidArgument"),
        ("<Status>Enabled</Status><Expiration><Date>2030-01-01</Date></Expiration>", "ok"),
        ("<Status>Enabled</Status><Expiration><Days>x</Days></Expiration>", "MalformedXML"),
        ("<Status>Enabled</Status>", "InvalidRequest"),
        ("<Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>", "MalformedXML"),
        ("<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>", "MalformedXML"),
        ("<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>", "InvalidRequest"),
        ("<Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>", "InvalidArgument"),
        ("<Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>", "InvalidArgument"),
        ("<Status>Enabled</Status><NoncurrentVersionExpiration><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>", "MalformedXML"),
        ("<Status>Enabled</Status><Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition>", "ok"),
        ("<Status>Enabled</Status><Transition><Days>1</Days><StorageClass>PLATINUM</StorageClass></Transition>", "InvalidStorageClass"),
        ("<Status>Enabled</Status><Transition><Days>1</Days></Transition>", "MalformedXML"),
        ("<Status>Enabled</Status><Transition><Date>1970-08-22T19:28:21Z</Date><StorageClass>GLACIER</StorageClass></Transition>", "InvalidArgument"),
        ("<Status>Enabled</Status><Transition><Days>10</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Days>5</Days></Expiration>", "InvalidArgument"),
        ("<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>", "InvalidArgument"),
        ("<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>", "InvalidRequest"),
    ];
    for (inner, want) in cases {
        assert_eq!(code(&rule(inner)), want, "{inner}");
    }
    assert_eq!(code("<LifecycleConfiguration></LifecycleConfiguration>"), "MalformedXML");
}

#[test]
fn dates_parse_at_midnight_only() {
    assert_eq!(parse_date("2030-01-01T00:00:00Z").unwrap(), 1_893_456_000_000);
    assert_eq!(parse_date("2030-01-01T00:00:00.000Z").unwrap(), 1_893_456_000_000);
    assert_eq!(parse_date("2030-01-01").unwrap(), 1_893_456_000_000);
    assert!(parse_date("20200101").is_err());
}
