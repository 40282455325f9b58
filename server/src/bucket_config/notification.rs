//! A bucket's notification configuration: the XML document as S3 defines it (kept as put),
//! S3's validation of it (known events, one prefix and one suffix rule per filter, no two
//! configurations sharing an event on overlapping keys), and where each configuration sends
//! its events: a target registered with `coffer admin notify add`, named
//! `arn:coffer:sqs::NAME:webhook` or `arn:coffer:sqs::NAME:amqp`.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use coffer_storage::{EventPattern, NotifyRoute, NotifyTarget};
use serde::{Deserialize, Serialize};

/// The bucket configuration document holding the configuration (as JSON).
pub const KIND: &str = "notification";
const ARN_PREFIX: &str = "arn:coffer:sqs::";
const MAX_ID_CHARS: usize = 255;
const MAX_FILTER_VALUE: usize = 1024;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct NotificationConfiguration {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(rename = "TopicConfiguration", default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicConfiguration>,
    #[serde(rename = "QueueConfiguration", default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueConfiguration>,
    /// Lambda functions: not a kind of target Coffer has (refused, as an unknown destination).
    #[serde(rename = "CloudFunctionConfiguration", default, skip_serializing)]
    pub functions: Vec<FunctionConfiguration>,
    #[serde(rename = "EventBridgeConfiguration", default, skip_serializing)]
    pub event_bridge: Option<serde::de::IgnoredAny>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct QueueConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub queue: String,
    #[serde(rename = "Event", default)]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TopicConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub topic: String,
    #[serde(rename = "Event", default)]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    #[serde(default)]
    pub cloud_function: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Filter {
    #[serde(rename = "S3Key", default)]
    pub key: KeyFilter,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct KeyFilter {
    #[serde(rename = "FilterRule", default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<FilterRule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FilterRule {
    pub name: String,
    pub value: String,
}

/// One configuration, Queue or Topic alike, as checked and routed.
struct Destination<'a> {
    id: &'a mut Option<String>,
    arn: &'a str,
    events: &'a [String],
    filter: Option<&'a Filter>,
}

/// A configuration after the checks that need no other one: its patterns and key filter.
struct Checked {
    id: String,
    target: String,
    events: Vec<EventPattern>,
    prefix: String,
    suffix: String,
}

impl Checked {
    fn overlaps(&self, other: &Checked) -> bool {
        let prefixes = self.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&self.prefix);
        let suffixes = self.suffix.ends_with(&other.suffix) || other.suffix.ends_with(&self.suffix);
        prefixes && suffixes && self.events.iter().any(|a| other.events.iter().any(|b| a.overlaps(*b)))
    }
}

fn invalid(message: &str, name: &str, value: &str) -> S3Error {
    S3Error::invalid_argument(message).with("ArgumentName", name).with("ArgumentValue", value)
}

/// The target an ARN names among the registered ones: its name, if it is one of them (of the
/// kind the ARN says).
pub fn target_of(arn: &str, targets: &[NotifyTarget]) -> Option<String> {
    let (name, kind) = arn.strip_prefix(ARN_PREFIX)?.split_once(':')?;
    targets.iter().find(|t| t.name == name && t.kind.as_str() == kind).map(|t| t.name.clone())
}

impl NotificationConfiguration {
    /// Whether it sends nothing anywhere (an empty PUT turns notifications off).
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.queues.is_empty() && self.functions.is_empty() && self.event_bridge.is_none()
    }

    /// Checks the document as S3 does against the registered `targets`, gives every
    /// configuration without an Id a generated one, and returns the routes the storage layer
    /// queues events by.
    pub fn validate(&mut self, targets: &[NotifyTarget]) -> S3Result<Vec<NotifyRoute>> {
        if self.event_bridge.is_some() {
            return Err(S3Error::new(ErrorCode::NotImplemented).with_message("EventBridge is not a notification destination Coffer has."));
        }
        if let Some(f) = self.functions.first() {
            return Err(unreachable_destination(&f.cloud_function));
        }
        let queues = self.queues.iter_mut().map(|q| Destination { id: &mut q.id, arn: &q.queue, events: &q.events, filter: q.filter.as_ref() });
        let topics = self.topics.iter_mut().map(|t| Destination { id: &mut t.id, arn: &t.topic, events: &t.events, filter: t.filter.as_ref() });
        let mut checked: Vec<Checked> = Vec::new();
        for d in queues.chain(topics) {
            let c = d.check(targets)?;
            if checked.iter().any(|other| other.id == c.id) {
                return Err(invalid("Duplicate notification configuration Id", "Id", &c.id));
            }
            if checked.iter().any(|other| other.overlaps(&c)) {
                return Err(invalid(
                    "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                    "Event",
                    &c.id,
                ));
            }
            checked.push(c);
        }
        let routes = checked.into_iter().map(|c| NotifyRoute {
            config_id: c.id,
            target: c.target,
            events: c.events.iter().map(|p| pattern_text(*p)).collect(),
            prefix: c.prefix,
            suffix: c.suffix,
        });
        Ok(routes.collect())
    }
}

fn pattern_text(p: EventPattern) -> String {
    match p {
        EventPattern::One(name) => format!("s3:{}", name.as_str()),
        EventPattern::Family(family) => format!("s3:{family}:*"),
    }
}

fn unreachable_destination(arn: &str) -> S3Error {
    invalid("Unable to validate the following destination configurations", arn, "Not a notification target registered on this server (coffer admin notify add)")
}

impl Destination<'_> {
    fn check(self, targets: &[NotifyTarget]) -> S3Result<Checked> {
        if self.arn.is_empty() || self.events.is_empty() {
            return Err(S3Error::new(ErrorCode::MalformedXML));
        }
        let id = match self.id.as_deref().filter(|i| !i.is_empty()) {
            Some(id) => id.to_string(),
            None => {
                // S3 gives a configuration without an Id one of its own.
                let generated = format!("{:032x}", rand::random::<u128>());
                *self.id = Some(generated.clone());
                generated
            }
        };
        if id.chars().count() > MAX_ID_CHARS {
            return Err(invalid("The Id is longer than 255 characters", "Id", &id));
        }
        let mut events = Vec::with_capacity(self.events.len());
        for e in self.events {
            let pattern = EventPattern::parse(e.trim()).ok_or_else(|| invalid("The event is not supported for notifications", "Event", e))?;
            events.push(pattern);
        }
        let (mut prefix, mut suffix) = (None, None);
        for rule in self.filter.map(|f| f.key.rules.as_slice()).unwrap_or_default() {
            let slot = match rule.name.to_ascii_lowercase().as_str() {
                "prefix" => &mut prefix,
                "suffix" => &mut suffix,
                _ => return Err(invalid("filter rule name must be either prefix or suffix", "FilterRule", &rule.name)),
            };
            if slot.is_some() {
                let which = rule.name.to_ascii_lowercase();
                return Err(invalid(&format!("Cannot specify more than one {which} rule in a filter."), "FilterRule", &which));
            }
            if rule.value.len() > MAX_FILTER_VALUE {
                return Err(invalid("The filter rule's value is longer than 1024 characters", "FilterRule", &rule.name));
            }
            *slot = Some(rule.value.clone());
        }
        let target = target_of(self.arn, targets).ok_or_else(|| unreachable_destination(self.arn))?;
        Ok(Checked { id, target, events, prefix: prefix.unwrap_or_default(), suffix: suffix.unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::xml;
    use coffer_storage::{EventName, TargetKind};

    fn targets() -> Vec<NotifyTarget> {
        let hook = NotifyTarget { name: "hook".into(), kind: TargetKind::Webhook { url: "http://127.0.0.1:9/".into() }, max_backlog: 10 };
        let amqp = TargetKind::Amqp { url: "amqp://127.0.0.1:5672".into(), exchange: "x".into(), routing_key: None };
        vec![hook, NotifyTarget { name: "mq".into(), kind: amqp, max_backlog: 10 }]
    }

    fn queue(id: &str, arn: &str, events: &[&str], rules: &[(&str, &str)]) -> String {
        let events: String = events.iter().map(|e| format!("<Event>{e}</Event>")).collect();
        let rules: String = rules.iter().map(|(n, v)| format!("<FilterRule><Name>{n}</Name><Value>{v}</Value></FilterRule>")).collect();
        let filter = if rules.is_empty() { String::new() } else { format!("<Filter><S3Key>{rules}</S3Key></Filter>") };
        format!("<QueueConfiguration><Id>{id}</Id><Queue>{arn}</Queue>{events}{filter}</QueueConfiguration>")
    }

    fn check(body: &str) -> Result<Vec<NotifyRoute>, (String, String)> {
        let doc = format!("<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{body}</NotificationConfiguration>");
        let mut c: NotificationConfiguration = xml::parse(doc.as_bytes()).map_err(|e| (e.code.to_string(), e.message.clone()))?;
        c.validate(&targets()).map_err(|e| (e.code.to_string(), e.message.clone()))
    }

    const HOOK: &str = "arn:coffer:sqs::hook:webhook";
    const MQ: &str = "arn:coffer:sqs::mq:amqp";

    #[test]
    fn routes_from_queue_and_topic_configurations() {
        let topic = "<TopicConfiguration><Topic>arn:coffer:sqs::mq:amqp</Topic><Event>s3:ObjectRemoved:*</Event></TopicConfiguration>";
        let routes = check(&format!("{}{topic}", queue("new-images", HOOK, &["s3:ObjectCreated:*"], &[("prefix", "img/"), ("Suffix", ".jpg")]))).unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!((routes[0].config_id.as_str(), routes[0].target.as_str()), ("new-images", "hook"));
        assert_eq!((routes[0].prefix.as_str(), routes[0].suffix.as_str()), ("img/", ".jpg"));
        assert!(routes[0].takes(EventName::ObjectCreatedPost, "img/cat.jpg"));
        assert_eq!(routes[1].target, "mq");
        assert_eq!(routes[1].config_id.len(), 32, "an Id is generated");
        assert_eq!(check("").unwrap(), vec![]);
    }

    #[test]
    fn s3s_checks() {
        let cases = [
            (queue("a", HOOK, &["s3:ObjectCreated:Patch"], &[]), "InvalidArgument", "The event is not supported"),
            (queue("a", HOOK, &["s3:ObjectCreated:*"], &[("prefix", "a"), ("prefix", "b")]), "InvalidArgument", "more than one prefix"),
            (queue("a", HOOK, &["s3:ObjectCreated:*"], &[("infix", "a")]), "InvalidArgument", "prefix or suffix"),
            (queue("a", "arn:coffer:sqs::nobody:webhook", &["s3:ObjectCreated:*"], &[]), "InvalidArgument", "Unable to validate"),
            (queue("a", "arn:coffer:sqs::hook:amqp", &["s3:ObjectCreated:*"], &[]), "InvalidArgument", "Unable to validate"),
            (queue("a", "arn:aws:sqs:us-east-1:1:q", &["s3:ObjectCreated:*"], &[]), "InvalidArgument", "Unable to validate"),
            (queue("a", HOOK, &[], &[]), "MalformedXML", ""),
            (
                format!("{}{}", queue("a", HOOK, &["s3:ObjectCreated:*"], &[("prefix", "logs/")]), queue("b", MQ, &["s3:ObjectCreated:Put"], &[("prefix", "logs/2024/")])),
                "InvalidArgument",
                "Configurations overlap",
            ),
            (
                format!("{}{}", queue("a", HOOK, &["s3:ObjectCreated:*"], &[("suffix", ".jpg")]), queue("b", HOOK, &["s3:ObjectCreated:Copy"], &[])),
                "InvalidArgument",
                "Configurations overlap",
            ),
            (format!("{}{}", queue("a", HOOK, &["s3:ObjectCreated:*"], &[]), queue("a", MQ, &["s3:ObjectRemoved:*"], &[])), "InvalidArgument", "Duplicate"),
            ("<CloudFunctionConfiguration><CloudFunction>arn:aws:lambda:x</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration>".into(), "InvalidArgument", "Unable to validate"),
            ("<EventBridgeConfiguration></EventBridgeConfiguration>".into(), "NotImplemented", ""),
        ];
        for (body, code, message) in cases {
            let (got, text) = check(&body).unwrap_err();
            assert_eq!(got, code, "{body}");
            assert!(text.contains(message), "{text} for {body}");
        }
        // Same events on keys that cannot overlap, and overlapping keys with other events, are fine.
        let apart = format!("{}{}", queue("a", HOOK, &["s3:ObjectCreated:*"], &[("prefix", "a/")]), queue("b", MQ, &["s3:ObjectCreated:*"], &[("prefix", "b/")]));
        assert_eq!(check(&apart).unwrap().len(), 2);
        let suffixes = format!("{}{}", queue("a", HOOK, &["s3:ObjectCreated:*"], &[("suffix", ".jpg")]), queue("b", MQ, &["s3:ObjectCreated:*"], &[("suffix", ".png")]));
        assert_eq!(check(&suffixes).unwrap().len(), 2);
        let other_events = format!("{}{}", queue("a", HOOK, &["s3:ObjectCreated:*"], &[]), queue("b", HOOK, &["s3:ObjectRemoved:*", "s3:ObjectTagging:Put"], &[]));
        assert_eq!(check(&other_events).unwrap().len(), 2);
    }

    #[test]
    fn renders_back_as_put() {
        let doc = format!("<NotificationConfiguration>{}</NotificationConfiguration>", queue("a", HOOK, &["s3:ObjectCreated:*"], &[("prefix", "p/")]));
        let mut c: NotificationConfiguration = xml::parse(doc.as_bytes()).unwrap();
        c.validate(&targets()).unwrap();
        c.xmlns = xml::S3_NAMESPACE;
        let out = xml::render("NotificationConfiguration", &c).unwrap();
        assert!(out.contains("<QueueConfiguration><Id>a</Id><Queue>arn:coffer:sqs::hook:webhook</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>p/</Value></FilterRule></S3Key></Filter></QueueConfiguration>"), "{out}");
        let empty = xml::render("NotificationConfiguration", &NotificationConfiguration { xmlns: xml::S3_NAMESPACE, ..Default::default() }).unwrap();
        assert!(empty.ends_with("<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"), "{empty}");
    }
}
