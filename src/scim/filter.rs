//! The `filter` parameter (RFC 7644 §3.4.2.2): a recursive-descent parser to [`Filter`], and
//! its evaluation on a resource's JSON. `and`, `or`, `not ( )`, grouping, `pr`, `eq ne co sw
//! ew gt ge lt le`, strings, booleans, numbers, `null`, and value paths
//! (`emails[type eq "work" and value co "@example.com"]`). Attribute names are
//! case-insensitive, and so are string comparisons (every published string is `caseExact:
//! false` but ids, which are lower-case UUIDs). An attribute the resource type does not name
//! is refused (`invalidFilter`).

use serde_json::Value;

use super::ScimError;

/// The longest filter accepted, and how deeply it may nest.
pub const MAX_FILTER_LENGTH: usize = 4096;
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// An attribute, lower-cased: `username`, `name.givenname`, `meta.created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn full(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}.{s}", self.attr),
            None => self.attr.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, Op, Value),
    /// `attr[filter]`: some value of the multi-valued `attr` matches the inner filter, whose
    /// paths name its sub-attributes.
    ValuePath(String, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidFilter", detail)
}

fn tokens(raw: &str) -> Result<Vec<Token>, ScimError> {
    let mut out = Vec::new();
    let mut chars = raw.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                // A JSON string: find its closing quote, then let serde unescape it.
                let mut end = None;
                let mut escaped = false;
                for (j, d) in raw[i + 1..].char_indices() {
                    match d {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => {
                            end = Some(i + 1 + j);
                            break;
                        }
                        _ => escaped = false,
                    }
                }
                let end = end.ok_or_else(|| invalid("a string is not closed"))?;
                let text: String = serde_json::from_str(&raw[i..=end])
                    .map_err(|_| invalid("a string has an invalid escape"))?;
                out.push(Token::Str(text));
                while chars.peek().is_some_and(|&(k, _)| k <= end) {
                    chars.next();
                }
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_whitespace() || "()[]\"".contains(d) {
                        break;
                    }
                    word.push(d);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    /// The attributes the resource type may be filtered on (lower case, `attr` or
    /// `attr.sub`).
    allowed: &'a [&'a str],
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), ScimError> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            _ => Err(invalid(format!("expected {what}"))),
        }
    }

    fn or(&mut self, depth: usize, within: Option<&str>) -> Result<Filter, ScimError> {
        if depth > MAX_DEPTH {
            return Err(invalid("the filter nests too deeply"));
        }
        let mut left = self.and(depth, within)?;
        while self.peek_word().as_deref() == Some("or") {
            self.at += 1;
            let right = self.and(depth, within)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize, within: Option<&str>) -> Result<Filter, ScimError> {
        let mut left = self.unary(depth, within)?;
        while self.peek_word().as_deref() == Some("and") {
            self.at += 1;
            let right = self.unary(depth, within)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize, within: Option<&str>) -> Result<Filter, ScimError> {
        if self.peek_word().as_deref() == Some("not") {
            self.at += 1;
            self.expect(Token::Open, "( after not")?;
            let inner = self.or(depth + 1, within)?;
            self.expect(Token::Close, ")")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.tokens.get(self.at) == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or(depth + 1, within)?;
            self.expect(Token::Close, ")")?;
            return Ok(inner);
        }
        let Some(Token::Word(word)) = self.next() else {
            return Err(invalid("expected an attribute"));
        };
        let path = attr_path(&word)?;
        if self.tokens.get(self.at) == Some(&Token::OpenBracket) {
            if within.is_some() || path.sub.is_some() {
                return Err(invalid("value paths do not nest"));
            }
            self.at += 1;
            let inner = self.or(depth + 1, Some(&path.attr))?;
            self.expect(Token::CloseBracket, "]")?;
            return Ok(Filter::ValuePath(path.attr, Box::new(inner)));
        }
        let full = match within {
            Some(parent) if path.sub.is_none() => format!("{parent}.{}", path.attr),
            Some(_) => return Err(invalid("a value path names sub-attributes only")),
            None => path.full(),
        };
        if !self.allowed.contains(&full.as_str()) {
            return Err(invalid(format!("cannot filter on '{word}'")));
        }
        let op = self
            .peek_word()
            .ok_or_else(|| invalid(format!("expected an operator after '{word}'")))?;
        self.at += 1;
        if op == "pr" {
            return Ok(Filter::Present(path));
        }
        let op = match op.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(invalid(format!("unknown operator '{other}'"))),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => w
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| invalid(format!("'{w}' is not a value")))?,
            },
            _ => return Err(invalid("expected a value")),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// `userName`, `name.givenName`, or with the schema: `urn:...:core:2.0:User:userName`.
fn attr_path(word: &str) -> Result<AttrPath, ScimError> {
    let lower = word.to_ascii_lowercase();
    let bare = if lower.starts_with("urn:") {
        lower.rsplit(':').next().unwrap_or_default().to_string()
    } else {
        lower
    };
    let mut parts = bare.splitn(2, '.');
    let attr = parts.next().unwrap_or_default().to_string();
    let sub = parts.next().map(str::to_string);
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
    };
    if !ok(&attr) || sub.as_deref().is_some_and(|s| !ok(s)) {
        return Err(invalid(format!("'{word}' is not an attribute")));
    }
    Ok(AttrPath { attr, sub })
}

/// Parse `raw` for a resource type that may be filtered on `allowed`.
pub fn parse(raw: &str, allowed: &[&str]) -> Result<Filter, ScimError> {
    if raw.len() > MAX_FILTER_LENGTH {
        return Err(invalid(format!(
            "a filter is at most {MAX_FILTER_LENGTH} characters"
        )));
    }
    let mut parser = Parser {
        tokens: tokens(raw)?,
        at: 0,
        allowed,
    };
    let filter = parser.or(0, None)?;
    if parser.at != parser.tokens.len() {
        return Err(invalid("unexpected text after the filter"));
    }
    Ok(filter)
}

/// The member of `object` named `name`, whatever its case.
pub fn member<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Every value at `path` in `doc` (a multi-valued attribute gives each of its values; without
/// a sub-attribute, a complex value stands for its `value`).
fn values<'v>(doc: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let Some(top) = member(doc, &path.attr) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match top {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .filter_map(|v| match (&path.sub, v) {
            (Some(sub), _) => member(v, sub),
            (None, Value::Object(_)) => member(v, "value"),
            (None, _) => Some(v),
        })
        .collect()
}

fn compare(actual: &Value, op: Op, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = (a.to_lowercase(), e.to_lowercase());
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Co => a.contains(&e),
                Op::Sw => a.starts_with(&e),
                Op::Ew => a.ends_with(&e),
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            Op::Eq => a == e,
            Op::Ne => a != e,
            _ => false,
        },
        (Value::Number(a), Value::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
                _ => false,
            }
        }
        _ => false,
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

impl Filter {
    /// Whether the resource `doc` matches.
    pub fn matches(&self, doc: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(doc) && b.matches(doc),
            Filter::Or(a, b) => a.matches(doc) || b.matches(doc),
            Filter::Not(a) => !a.matches(doc),
            Filter::Present(path) => values(doc, path).into_iter().any(present),
            Filter::Compare(path, op, Value::Null) => {
                let any = values(doc, path).into_iter().any(present);
                match op {
                    Op::Eq => !any,
                    Op::Ne => any,
                    _ => false,
                }
            }
            Filter::Compare(path, Op::Ne, expected) => !values(doc, path)
                .into_iter()
                .any(|v| compare(v, Op::Eq, expected)),
            Filter::Compare(path, op, expected) => values(doc, path)
                .into_iter()
                .any(|v| compare(v, *op, expected)),
            Filter::ValuePath(attr, inner) => match member(doc, attr) {
                Some(Value::Array(items)) => items.iter().any(|item| inner.matches(item)),
                Some(item @ Value::Object(_)) => inner.matches(item),
                _ => false,
            },
        }
    }

    /// A value every match must have at `attr` (exactly, ignoring case): what the database can
    /// narrow the candidates by before the filter itself is evaluated.
    pub fn equality_on(&self, attr: &str) -> Option<String> {
        match self {
            Filter::Compare(path, Op::Eq, Value::String(s)) if path.full() == attr => {
                Some(s.clone())
            }
            Filter::And(a, b) => a.equality_on(attr).or_else(|| b.equality_on(attr)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: &[&str] = &[
        "username",
        "emails",
        "emails.value",
        "emails.type",
        "active",
        "meta.created",
        "name.givenname",
        "externalid",
    ];

    fn doc() -> Value {
        json!({
            "userName": "Bjensen@Example.com",
            "active": true,
            "name": { "givenName": "Barbara" },
            "emails": [{ "value": "b@example.com", "type": "work" }, { "value": "b@home.example", "type": "home" }],
            "meta": { "created": "2026-12-01T10:00:00Z" }
        })
    }

    fn m(f: &str) -> bool {
        parse(f, USER).unwrap().matches(&doc())
    }

    #[test]
    fn operators_and_logic() {
        assert!(m(r#"userName eq "bjensen@example.com""#));
        assert!(!m(r#"userName ne "bjensen@example.com""#));
        assert!(m(r#"userName co "jensen""#));
        assert!(m(r#"userName sw "BJ""#));
        assert!(m(r#"userName ew ".com""#));
        assert!(m(r#"meta.created gt "2026-11-30T00:00:00Z""#));
        assert!(m(r#"meta.created ge "2026-12-01T10:00:00Z""#));
        assert!(m(r#"meta.created lt "2026-12-02T00:00:00Z""#));
        assert!(!m(r#"meta.created le "2026-11-01T00:00:00Z""#));
        assert!(m("active eq true"));
        assert!(m("name.givenName pr"));
        assert!(!m("externalId pr"));
        assert!(m("externalId eq null"));
        assert!(m(r#"emails[type eq "home" and value ew "home.example"]"#));
        assert!(!m(r#"emails[type eq "other"]"#));
        assert!(m(r#"emails.value eq "b@example.com""#));
        assert!(m(
            r#"not (active eq false) and (userName eq "x" or active eq true)"#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "BJENSEN@example.com""#
        ));
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "password eq \"x\"",
            "userName eq",
            "userName xx \"a\"",
            "userName eq \"a",
            "(userName eq \"a\"",
            "userName eq \"a\" extra",
            "emails[type eq \"work\"",
            "userName eq \"a\"; DROP TABLE members",
            "userName eq 'a' or 1=1",
        ] {
            let e = parse(bad, USER).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{bad}");
        }
        let deep = format!("{}active pr{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep, USER).is_err());
    }

    #[test]
    fn narrowing() {
        let f = parse(r#"active eq true and userName eq "A@b.c""#, USER).unwrap();
        assert_eq!(f.equality_on("username").as_deref(), Some("A@b.c"));
        let f = parse(r#"active eq true or userName eq "A@b.c""#, USER).unwrap();
        assert_eq!(f.equality_on("username"), None);
    }
}
