//! Wildcard patterns of the policy language: `*` matches any run, `?` one character, and
//! `${...}` policy variables are replaced before matching.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    One,
}

/// A wildcard pattern (`*` any run, `?` one character) after policy variables were replaced.
#[derive(Debug, Clone)]
pub struct Pattern(Vec<Tok>);

impl Pattern {
    /// A pattern with no variables.
    pub fn plain(s: &str) -> Pattern {
        Pattern(s.chars().map(tok).collect())
    }

    /// Replaces `${...}` variables through `lookup`; None when one cannot be resolved.
    pub(super) fn with_variables(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<Pattern> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.extend(rest[..start].chars().map(tok));
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.extend(rest[start..].chars().map(tok));
                return Some(Pattern(out));
            };
            match &after[..end] {
                "*" => out.push(Tok::Lit('*')),
                "?" => out.push(Tok::Lit('?')),
                "$" => out.push(Tok::Lit('$')),
                name => out.extend(lookup(&name.to_ascii_lowercase())?.chars().map(Tok::Lit)),
            }
            rest = &after[end + 1..];
        }
        out.extend(rest.chars().map(tok));
        Some(Pattern(out))
    }

    pub fn matches(&self, text: &str, ignore_case: bool) -> bool {
        let t: Vec<char> = text.chars().collect();
        let p = &self.0;
        let eq = |a: char, b: char| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
        let (mut pi, mut ti) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some(Tok::Any) => {
                    backtrack = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                Some(Tok::One) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                Some(Tok::Lit(c)) if eq(*c, t[ti]) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((bp, bt)) => {
                    pi = bp + 1;
                    ti = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            }
        }
        p[pi..].iter().all(|t| *t == Tok::Any)
    }

    /// Equality, with wildcard characters taken literally.
    pub fn literal_eq(&self, text: &str, ignore_case: bool) -> bool {
        let mine = self.0.iter().map(|t| match t {
            Tok::Lit(c) => *c,
            Tok::Any => '*',
            Tok::One => '?',
        });
        let mut theirs = text.chars();
        for c in mine {
            match theirs.next() {
                Some(o) if (ignore_case && c.eq_ignore_ascii_case(&o)) || c == o => {}
                _ => return false,
            }
        }
        theirs.next().is_none()
    }
}

fn tok(c: char) -> Tok {
    match c {
        '*' => Tok::Any,
        '?' => Tok::One,
        c => Tok::Lit(c),
    }
}

pub(super) fn glob_str(pattern: &str, text: &str, ignore_case: bool) -> bool {
    Pattern::plain(pattern).matches(text, ignore_case)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob_str("s3:get*", "s3:getobject", false));
        assert!(glob_str("s3:Get?bject", "s3:getobject", true));
        assert!(glob_str("*", "", false));
        assert!(glob_str("a*b*c", "aXXbYYc", false));
        assert!(!glob_str("a*b*c", "aXXbYY", false));
        assert!(!glob_str("arn:aws:s3:::b/home/*", "arn:aws:s3:::b/other", false));
    }
}
