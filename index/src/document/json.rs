//! A strict JSON reader that accepts and rejects what orjson 3 does, into values that keep
//! Python's distinctions: integers (64-bit; larger ones become floats, as in orjson) apart
//! from floats, objects in document order with a repeated key keeping its first position and
//! its last value (a Python dict). Nesting deeper than 1,024 arrays/objects is refused, like
//! orjson (serde_json would stop at 128, which is why this reader exists).

use std::collections::HashMap;
use std::fmt;

/// A decoded JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// An integer in the range orjson keeps as `int`: `i64::MIN..=u64::MAX`.
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// `dict.get(key)` on an object; None for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why a document is not JSON, with the byte offset where reading stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub message: &'static str,
    pub offset: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for JsonError {}

const MAX_DEPTH: usize = 1024;

/// Parses one JSON document (optionally surrounded by whitespace).
pub fn parse(raw: &[u8]) -> Result<Json, JsonError> {
    let mut parser = Parser { raw, at: 0 };
    parser.skip_whitespace();
    if parser.at == raw.len() {
        return Err(parser.error("input is empty"));
    }
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.at != raw.len() {
        return Err(parser.error("unexpected content after document"));
    }
    Ok(value)
}

struct Parser<'a> {
    raw: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> JsonError {
        JsonError {
            message,
            offset: self.at,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.raw.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &'static [u8], value: Json) -> Result<Json, JsonError> {
        for &expected in word {
            match self.peek() {
                None => return Err(self.error("unexpected end of data")),
                Some(b) if b == expected => self.at += 1,
                Some(_) => return Err(self.error("invalid literal")),
            }
        }
        Ok(value)
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        match self.peek() {
            None => Err(self.error("unexpected end of data")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.list(depth + 1),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character, expected a JSON value")),
        }
    }

    fn list(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("depth limit exceeded"));
        }
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::List(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::List(items));
                }
                None => return Err(self.error("unexpected end of data")),
                Some(_) => return Err(self.error("unexpected character, expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("depth limit exceeded"));
        }
        self.at += 1;
        let mut entries: Vec<(String, Json)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(entries));
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error("unexpected end of data")),
                Some(_) => return Err(self.error("expected a string key")),
            }
            let key = self.string()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b':') => self.at += 1,
                None => return Err(self.error("unexpected end of data")),
                Some(_) => return Err(self.error("expected ':' after a key")),
            }
            self.skip_whitespace();
            let value = self.value(depth)?;
            // A Python dict: a repeated key keeps its first position and takes the last value.
            match index.get(&key) {
                Some(&i) => entries[i].1 = value,
                None => {
                    index.insert(key.clone(), entries.len());
                    entries.push((key, value));
                }
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(entries));
                }
                None => return Err(self.error("unexpected end of data")),
                Some(_) => return Err(self.error("unexpected character, expected ',' or '}'")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        let int_digits = self.digits();
        if int_digits == 0 {
            return Err(self.error("no digit after sign"));
        }
        if int_digits > 1 && self.raw[int_start] == b'0' {
            return Err(self.error("number with leading zero is not allowed"));
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error("no digit after decimal point"));
            }
            is_float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("no digit in exponent"));
            }
            is_float = true;
        }
        // Only ASCII was consumed, so this is valid UTF-8.
        let text = std::str::from_utf8(&self.raw[start..self.at]).unwrap_or("");
        if !is_float {
            if let Ok(value) = text.parse::<i128>() {
                if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&value) {
                    return Ok(Json::Int(value));
                }
            }
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Json::Float(value)),
            _ => Err(JsonError {
                message: "number is infinity when parsed as double",
                offset: start,
            }),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0u32;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                None => return Err(self.error("unexpected end of data")),
                Some(_) => return Err(self.error("invalid escaped sequence in string")),
            };
            value = value * 16 + u32::from(digit);
            self.at += 1;
        }
        Ok(value)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1; // the opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let run = self.at;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.at += 1;
            }
            out.extend_from_slice(&self.raw[run..self.at]);
            match self.peek() {
                None => return Err(self.error("unexpected end of data")),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(out).map_err(|_| JsonError {
                        message: "str is not valid UTF-8",
                        offset: run,
                    });
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = match self.peek() {
                        None => return Err(self.error("unexpected end of data")),
                        Some(b) => b,
                    };
                    self.at += 1;
                    let c = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escaped sequence in string")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(_) => return Err(self.error("unexpected control character in string")),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.raw.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(self.error("no low surrogate in string"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("invalid low surrogate in string"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("invalid high surrogate in string")),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid escaped sequence in string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses_like_orjson() {
        assert_eq!(
            parse(b"18446744073709551615"),
            Ok(Json::Int(u64::MAX as i128))
        );
        assert_eq!(
            parse(b"18446744073709551616"),
            Ok(Json::Float(18446744073709551616.0))
        );
        assert_eq!(parse(b"-0"), Ok(Json::Int(0)));
        assert_eq!(parse(b"1e-400"), Ok(Json::Float(0.0)));
        assert_eq!(parse(b" {} "), Ok(Json::Object(vec![])));
        assert_eq!(
            parse(br#"{"a":1,"b":2,"a":3}"#),
            Ok(Json::Object(vec![
                ("a".into(), Json::Int(3)),
                ("b".into(), Json::Int(2))
            ]))
        );
        let deep = |n: usize| [b"[".repeat(n), b"]".repeat(n)].concat();
        assert!(parse(&deep(1024)).is_ok());
        assert!(parse(&deep(1025)).is_err());
        for bad in [
            &b"1e400"[..],
            b"1.",
            b".5",
            b"01",
            b"\xef\xbb\xbf{}",
            b"NaN",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"a\x01\"",
            b"\"\xff\"",
            b"[1,]",
            b"{}x",
            b"",
            b"  ",
            b"\x0c1",
            b"tru",
            b"-",
            b"1e",
            b"-01",
            b"\"\\x\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse(b"\"\\ud83d\\ude00\\u0000\""),
            Ok(Json::Str("😀\0".into()))
        );
    }
}
